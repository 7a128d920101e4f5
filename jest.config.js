/** Tests run the TypeScript sources directly (ts-jest, transpile only; `npm test` type-checks first). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    // hyparquet and hyparquet-writer ship only ES modules: transpile them to CommonJS for jest.
    '/node_modules/hyparquet(-writer)?/.+\\.js$': ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true, isolatedModules: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(hyparquet|hyparquet-writer)/)'],
  testTimeout: 120000,
  maxWorkers: 2,
};
