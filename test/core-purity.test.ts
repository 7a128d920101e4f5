import { readdirSync, readFileSync, statSync } from 'fs';
import { dirname, join, relative, resolve, sep } from 'path';
import * as ts from 'typescript';

/**
 * The compute core (src/core) is pure: settings reach it as arguments, so it reads no environment
 * and imports nothing of the layers around it. The only module outside src/core it may import is
 * src/errors.ts (the error classes every layer shares). Parsed with the TypeScript compiler, so a
 * comment or a string that mentions `process.env` is not a read.
 */
const REPO = resolve(__dirname, '..');
const CORE = join(REPO, 'src', 'core');
const ALLOWED_OUTSIDE = new Set([join(REPO, 'src', 'errors')]);
const LAYERS = ['config', 'log', 'queue', 'storage', 'metrics', 'cli', 'worker', 'producer', 'aggregator', 'dashboard', 'report'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

/** `process.env`, `process['env']`, `const { env } = process`, `globalThis.process.env`. */
function environmentReads(file: ts.SourceFile): number[] {
  const lines: number[] = [];
  const isProcess = (e: ts.Expression) => (ts.isIdentifier(e) && e.text === 'process') || (ts.isPropertyAccessExpression(e) && e.name.text === 'process');
  const visit = (node: ts.Node): void => {
    const read =
      (ts.isPropertyAccessExpression(node) && node.name.text === 'env' && isProcess(node.expression)) ||
      (ts.isElementAccessExpression(node) &&
        isProcess(node.expression) &&
        ts.isStringLiteralLike(node.argumentExpression) &&
        node.argumentExpression.text === 'env') ||
      (ts.isVariableDeclaration(node) &&
        node.initializer !== undefined &&
        isProcess(node.initializer) &&
        ts.isObjectBindingPattern(node.name) &&
        node.name.elements.some((e) => (e.propertyName ?? e.name).getText(file) === 'env'));
    if (read) lines.push(file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return lines;
}

/** Every module specifier: import/export … from, import(), require(), import x = require(). */
function moduleSpecifiers(file: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteralLike(node.arguments[0]!)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) found.push(node.arguments[0]!.text);
    } else if (ts.isExternalModuleReference(node) && ts.isStringLiteral(node.expression)) {
      found.push(node.expression.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The violations of one core file, as readable lines. */
function impurities(path: string, text = readFileSync(path, 'utf8')): string[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const where = relative(REPO, path);
  const problems = environmentReads(file).map((line) => `${where}:${line} reads process.env (settings reach the core as arguments)`);
  for (const spec of moduleSpecifiers(file)) {
    if (!spec.startsWith('.')) continue; // packages: tfjs, node's modules
    const target = resolve(dirname(path), spec).replace(/\.(ts|js)$/, '');
    if (target === CORE || target.startsWith(CORE + sep) || ALLOWED_OUTSIDE.has(target)) continue;
    const layer = relative(join(REPO, 'src'), target)
      .split(sep)[0]!
      .replace(/\.(ts|js)$/, '');
    const named = LAYERS.includes(layer) ? `the ${layer} layer` : relative(REPO, target);
    problems.push(`${where} imports '${spec}': ${named} is outside the core`);
  }
  return problems;
}

describe('the compute core is pure', () => {
  const files = sourceFiles(CORE);

  test('the scan sees the whole core', () => {
    expect(files.length).toBeGreaterThan(80);
    expect(files).toContain(join(CORE, 'backend.ts'));
    expect(files).toContain(join(CORE, 'kernels', 'hybrid.ts'));
  });

  test('no file under src/core reads process.env or imports config, log, queue, storage, metrics, cli, …', () => {
    expect(files.flatMap((f) => impurities(f))).toEqual([]);
  });

  // The checker itself: each kind of violation is caught, and what merely mentions it is not.
  test.each([
    ['const threads = process.env.ZC_HYBRID_THREADS;', /reads process\.env/],
    ["const backend = process['env'].ZC_BACKEND;", /reads process\.env/],
    ['const { env } = process;', /reads process\.env/],
    ['const e = globalThis.process.env;', /reads process\.env/],
    ["import { loadConfig } from '../../config';", /the config layer is outside the core/],
    ["import { logger } from '../../log';", /the log layer is outside the core/],
    ["import type { JobPayload } from '../../queue/schema';", /the queue layer is outside the core/],
    ["export { openDataset } from '../../storage/dataset';", /the storage layer is outside the core/],
    ["const m = require('../../metrics');", /the metrics layer is outside the core/],
    ["const c = import('../../cli/main');", /the cli layer is outside the core/],
    ["import { x } from '../../../bench/hybrid';", /bench\/hybrid is outside the core/],
  ])('flags %s', (code, message) => {
    const problems = impurities(join(CORE, 'kernels', 'example.ts'), code);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  test.each([
    "// process.env is never read here\nconst s = 'process.env';",
    "import { InputError } from '../../errors';\nimport { tf } from '../backend';\nimport * as os from 'os';",
  ])('does not flag %s', (code) => {
    expect(impurities(join(CORE, 'kernels', 'example.ts'), code)).toEqual([]);
  });
});
