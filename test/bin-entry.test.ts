import { spawnSync } from 'child_process';
import { copyFileSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'fs';
import { dirname, join } from 'path';
import { REPO_ROOT } from './helpers/cli';
import { tempDir } from './helpers/s3';

/** bin/zcbench.js's choice of entry point, on scratch trees (the real src/ and dist/ are never touched). */
interface Entry {
  module: string;
  tsx: boolean;
  warning?: string;
}
// bin/ is plain CommonJS, outside the compiled sources: loaded as it runs.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a .js file without types, outside tsconfig
const { chooseEntry } = require('../bin/choose-entry.js') as { chooseEntry: (o: { root: string; fromSource?: boolean; tsxAvailable?: boolean }) => Entry };

const EARLIER = new Date('2026-01-01T00:00:00Z');
const LATER = new Date('2026-01-02T00:00:00Z');

function write(root: string, rel: string, text: string, mtime: Date): void {
  const file = join(root, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  utimesSync(file, mtime, mtime);
}

/** A tree like the repository's: sources (one nested), and a build made after them. */
function scratchTree(): { dir: string; remove: () => void } {
  const tmp = tempDir('bin-entry');
  write(tmp.dir, 'src/cli/main.ts', "export function runCli(): void { console.log('from source'); }\n", EARLIER);
  write(tmp.dir, 'src/core/passes/data.ts', 'export {};\n', EARLIER);
  write(tmp.dir, 'dist/cli/main.js', "exports.runCli = () => console.log('compiled');\n", LATER);
  return tmp;
}

describe('chooseEntry', () => {
  let tree: { dir: string; remove: () => void };
  beforeEach(() => (tree = scratchTree()));
  afterEach(() => tree.remove());
  const compiled = () => join(tree.dir, 'dist', 'cli', 'main.js');
  const sources = () => join(tree.dir, 'src', 'cli', 'main.ts');

  test('a build newer than every source runs, silently', () => {
    expect(chooseEntry({ root: tree.dir })).toEqual({ module: compiled(), tsx: false });
  });

  test('a source edited after the build (deep in src/) runs the sources through tsx, with a warning naming it', () => {
    utimesSync(join(tree.dir, 'src/core/passes/data.ts'), new Date(), new Date());
    const entry = chooseEntry({ root: tree.dir });
    expect(entry).toMatchObject({ module: sources(), tsx: true });
    expect(entry.warning).toBe('zcbench: src/core/passes/data.ts is newer than dist/; running the sources through tsx (npm run build to use a build again)');
  });

  test('without tsx a stale build still runs, and says so', () => {
    utimesSync(join(tree.dir, 'src/cli/main.ts'), new Date(), new Date());
    const entry = chooseEntry({ root: tree.dir, tsxAvailable: false });
    expect(entry).toMatchObject({ module: compiled(), tsx: false });
    expect(entry.warning).toMatch(/^zcbench: src\/cli\/main\.ts is newer than dist\/; tsx is not installed/);
  });

  test('no build, or ZC_FROM_SOURCE: the sources, no warning; no src/ (an image): the build', () => {
    expect(chooseEntry({ root: tree.dir, fromSource: true })).toEqual({ module: sources(), tsx: true });
    const noSrc = tempDir('bin-entry-image');
    write(noSrc.dir, 'dist/cli/main.js', '', EARLIER);
    expect(chooseEntry({ root: noSrc.dir })).toEqual({ module: join(noSrc.dir, 'dist', 'cli', 'main.js'), tsx: false });
    noSrc.remove();
    const noDist = tempDir('bin-entry-clone');
    write(noDist.dir, 'src/cli/main.ts', '', LATER);
    expect(chooseEntry({ root: noDist.dir })).toEqual({ module: join(noDist.dir, 'src', 'cli', 'main.ts'), tsx: true });
    noDist.remove();
  });

  test('bin/zcbench.js runs the entry it chose: a stale build is not run', () => {
    mkdirSync(join(tree.dir, 'bin'));
    for (const f of ['zcbench.js', 'choose-entry.js']) copyFileSync(join(REPO_ROOT, 'bin', f), join(tree.dir, 'bin', f));
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(tree.dir, 'node_modules'));
    const run = () => spawnSync(process.execPath, [join(tree.dir, 'bin', 'zcbench.js')], { encoding: 'utf8', env: { ...process.env, ZC_FROM_SOURCE: '' } });
    const fresh = run();
    expect([fresh.stdout, fresh.stderr]).toEqual(['compiled\n', '']);
    utimesSync(join(tree.dir, 'src/cli/main.ts'), new Date(), new Date());
    const stale = run();
    expect(stale.stdout).toBe('from source\n');
    expect(stale.stderr).toBe('zcbench: src/cli/main.ts is newer than dist/; running the sources through tsx (npm run build to use a build again)\n');
  });
});
