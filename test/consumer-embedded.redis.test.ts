import { localFingerprint } from '../src/version';
import { DuckDBInstance } from '@duckdb/node-api';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import type { Redis } from 'ioredis';
import { tmpdir } from 'os';
import { join } from 'path';
import { nb201String, parseNb201 } from '../src/core/spaces/nasbench201';
import { runCli } from './helpers/cli';
import { cleanupRedis, testRedis, uniquePrefix } from './helpers/pipeline';

/**
 * A new user's first minutes, through the real CLI: build a tiny version into a fresh ZC_HOME
 * with no S3 settings at all, then read it with every dataset command (the embedded store starts
 * and stops with each), and the mistakes a new user makes get one clear line each.
 */
jest.setTimeout(300_000);

const ARCHS = ['(0, 2, 3, 2, 3, 1)', '(1, 2, 4, 0, 3, 3)', '(4, 4, 2, 2, 0, 1)'];
const PROXIES = ['flops', 'l2_norm', 'params'];

describe('the embedded store serves every dataset command', () => {
  const prefix = uniquePrefix('embedded');
  const buildId = `${prefix}-b`;
  const dir = mkdtempSync(join(tmpdir(), 'zct-embedded-'));
  const home = join(dir, 'home');
  // The child sees no S3 endpoint, bucket or credentials (undefined: not passed on), and no
  // LOG_LEVEL: only ZC_HOME says where data lives, and the commands' own defaults apply.
  const env: NodeJS.ProcessEnv = { ZC_HOME: home, ZC_QUEUE_PREFIX: prefix, METRICS_PORT: '0', LOG_LEVEL: undefined };
  for (const k of [...Object.keys(process.env), 'S3_ENDPOINT', 'S3_BUCKET', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
    if (/^(S3_|AWS_)/.test(k)) env[k] = undefined;
  }
  const cli = (args: string[], timeoutMs?: number) => runCli(args, { env, timeoutMs });
  let redis: Redis;
  beforeAll(async () => {
    redis = await testRedis();
  });
  afterAll(async () => {
    await cleanupRedis(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test('build, then ls, query, pull --format both and report, with no S3 variables set', async () => {
    const spec = join(dir, 'demo.json');
    writeFileSync(
      spec,
      JSON.stringify({
        dataset: 'zc-demo',
        spaces: ['nasbench201'],
        tasks: ['cifar10'],
        proxies: PROXIES,
        archs: ARCHS,
        batchSize: { default: 8 },
        data: { source: 'synthetic' },
      }),
    );
    const run = await cli(['run', '--spec', spec, '--build-id', buildId]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/"level"|error/i) });
    expect(run.stdout).toContain('published zc-demo@v1: 9 rows');
    expect(run.stdout).toContain(`data in ${join(home, 's3')}`);

    const ls = await cli(['ls']);
    expect({ code: ls.code, stderr: ls.stderr }).toEqual({ code: 0, stderr: '' });
    expect(ls.stdout).toMatch(/^zc-demo\s+v1\s+\S+ \S+\s+-\s+9\s+9\/9 ok \(100\.0%\), 0 failed/m);

    const query = await cli(['query', 'zc-demo', '--space', 'nasbench201', '--task', 'cifar10', '--arch', '(0,2,3,2,3,1)']);
    expect({ code: query.code, stderr: query.stderr }).toEqual({ code: 0, stderr: '' });
    expect(query.stdout).toContain(`nasbench201/cifar10 (0, 2, 3, 2, 3, 1)  ${nb201String(parseNb201(ARCHS[0]!))}\n`);
    expect(query.stdout).toMatch(/^params\s+0\.615386\s+\S+\s+[0-9a-f]{16}-wasm\s+wasm$/m); // NB201's 0.615386 M parameters, rounded to 6 digits

    const out = join(dir, 'pulled');
    const pull = await cli(['pull', 'zc-demo', '--format', 'both', '--out', out]);
    expect({ code: pull.code, stderr: pull.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pull.stdout).toContain(`2 files written to ${out}, and 1 wide tables under data/wide/`);
    expect(existsSync(join(out, 'zc_nasbench201.json'))).toBe(true);

    const report = await cli(['report', 'zc-demo', '--out', join(dir, 'report')]);
    expect({ code: report.code, stderr: report.stderr }).toEqual({ code: 0, stderr: '' });
    expect(report.stdout).toContain('zc-demo@v1: no ground truth (val_accuracy), so nothing to correlate; 9 proxy rows');
    // report and query read the pulled directory the same way they read the store.
    const local = await cli(['query', out, '--space', 'nasbench201', '--task', 'cifar10', '--arch', nb201String(parseNb201(ARCHS[2]!)), '--json']);
    expect(local.code).toBe(0);
    expect(JSON.parse(local.stdout)).toMatchObject({ dataset: 'zc-demo', version: 'v1', arch: ARCHS[2], arch_readable: nb201String(parseNb201(ARCHS[2]!)) });
    expect((await cli(['report', out, '--out', join(dir, 'report2')])).code).toBe(0);
  });

  test('the pulled wide table: one row per architecture, a column per proxy, read by DuckDB', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const wide = join(dir, 'pulled', 'data', 'wide', 'nasbench201', 'cifar10.parquet');
    const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${wide}')`)).getRowObjectsJS();
    expect(described.map((d) => [d.column_name, d.column_type])).toEqual([
      ['arch', 'VARCHAR'],
      ['arch_readable', 'VARCHAR'],
      ['val_accuracy', 'DOUBLE'],
      ['flops', 'DOUBLE'],
      ['l2_norm', 'DOUBLE'],
      ['params', 'DOUBLE'],
    ]);
    const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet('${wide}') ORDER BY arch`)).getRowObjectsJS();
    expect(rows.map((r) => [r.arch, r.arch_readable])).toEqual([...ARCHS].sort().map((a) => [a, nb201String(parseNb201(a))]));
    // The wide values are the long table's, pivoted.
    const long = join(dir, 'pulled', 'data', 'parquet', 'nasbench201', 'cifar10', 'v1-0000.parquet');
    const pivot = (await conn.runAndReadAll(`SELECT arch, proxy, score, arch_readable FROM read_parquet('${long}')`)).getRowObjectsJS();
    expect(pivot).toHaveLength(9);
    for (const p of pivot) {
      const w = rows.find((r) => r.arch === p.arch)!;
      expect(w[String(p.proxy)]).toBe(p.score);
      expect(p.arch_readable).toBe(w.arch_readable);
    }
    const record = JSON.parse(readFileSync(join(dir, 'pulled', 'zcbench-pull.json'), 'utf8')) as { derived: Record<string, { rows: number; kind: string }> };
    expect(record.derived['data/wide/nasbench201/cifar10.parquet']).toMatchObject({ rows: 3, kind: 'wide' });
    conn.closeSync();
  });

  test('what a new user got wrong: one line each, and the documented exit code', async () => {
    // A refused endpoint fails at its first request (the bound below is far under the 2-minute retry budget).
    const refused = await cli(['ls', '--endpoint', 'http://127.0.0.1:1'], 60_000);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^zcbench ls: cannot reach S3 at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\n$/);
    // The same through S3_ENDPOINT with credentials set (before: two minutes of retries and 35 JSON log lines).
    const withKeys = await runCli(['query', 'zc-demo', '--space', 'nasbench201', '--task', 'cifar10', '--arch', ARCHS[0]!], {
      env: { ...env, S3_ENDPOINT: 'http://127.0.0.1:1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
      timeoutMs: 60_000,
    });
    expect({ code: withKeys.code, stderr: withKeys.stderr }).toEqual({
      code: 4,
      stderr: expect.stringMatching(/^zcbench query: cannot reach S3 at http:\/\/127\.0\.0\.1:1: [^\n]*\n$/),
    });
    const asFile = join(dir, 'a-file');
    writeFileSync(asFile, 'x');
    const file = await cli(['pull', 'zc-demo', '--out', asFile]);
    expect({ code: file.code, stderr: file.stderr }).toEqual({
      code: 2,
      stderr: `zcbench pull: invalid --out: ${JSON.stringify(asFile)} (${asFile} is a file, not a directory)\n`,
    });
    const proc = await cli(['pull', 'zc-demo', '--out', '/proc/zcbench-x'], 60_000);
    expect(proc.code).toBe(2);
    expect(proc.stderr).toMatch(/^zcbench pull: invalid --out: "\/proc\/zcbench-x" \(cannot create directory \/proc\/zcbench-x: E[A-Z]+\)\n$/);
    // --proxy is accepted wherever --proxies is.
    const alias = await cli(['pull', 'zc-demo', '--proxy', 'params', '--format', 'parquet', '--out', join(dir, 'only-params')]);
    expect(alias.code).toBe(0);
    const version = await cli(['--version']);
    expect(version).toEqual({
      code: 0,
      stdout: `zcbench ${(JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version} (compute fingerprint ${localFingerprint().id})\n`,
      stderr: '',
    });
  });
});
