import type { ChildProcess } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import type { Redis } from 'ioredis';
import { tmpdir } from 'os';
import { join } from 'path';
import { redisKeys } from '../src/queue/names';
import { openQueue } from '../src/queue/queues';
import { runCli } from './helpers/cli';
import { cleanupRedis, redisUrl, startTestS3, testRedis, uniquePrefix, type TestS3 } from './helpers/pipeline';

/** A password that must never appear in any output. */
const SECRET = 's3cret-do-not-print';

/** The pipeline commands as a user runs them: errors on one line, `run` end to end, `status`. */
jest.setTimeout(300_000);

describe('pipeline commands', () => {
  const prefix = uniquePrefix('cli');
  const dir = mkdtempSync(join(tmpdir(), 'zct-cli-'));
  const env = { ZC_QUEUE_PREFIX: prefix, ZC_HOME: join(dir, 'home'), METRICS_PORT: '0' };
  let redis: Redis;
  // `produce` reads the build's store (what it holds is not enqueued again).
  let s3: TestS3;
  beforeAll(async () => {
    redis = await testRedis();
    s3 = await startTestS3('cli');
  });
  afterAll(async () => {
    await cleanupRedis(redis, prefix);
    redis.disconnect();
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = (name: string, body: Record<string, unknown>) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(body));
    return file;
  };

  test('an invalid spec fails before anything is enqueued, naming the field, on one line', async () => {
    const file = spec('bad.json', { dataset: 'zct-cli-bad', spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params', 'snap'], archs: 'all' });
    const r = await runCli(['produce', '--spec', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^zcbench produce: invalid spec proxies\[1\]: "snap" \(Invalid option: expected one of .*"zen".*"az_nas"\)\n$/);
    const queue = openQueue('light', redis, prefix);
    expect(await queue.count()).toBe(0);
    await queue.close();
    const yaml = join(dir, 'bad.yaml');
    writeFileSync(yaml, 'dataset: zct-cli-bad\nspaces: [nasbench201]\ntasks: [cifar10]\nproxies: all\narchs: ["(0, 1, 2, 3, 4, 0)", "(0, 1, 2)"]\n');
    const y = await runCli(['produce', '--spec', yaml], { env });
    expect(y.code).toBe(2);
    expect(y.stderr).toMatch(/^zcbench produce: invalid spec archs\[1\]: "\(0, 1, 2\)" \(a NASLib tuple/);
  });

  test('no Redis answering: a clear message saying how to start one, exit 4', async () => {
    const file = spec('ok.json', { dataset: 'zct-cli-none', spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params'], archs: { sample: 2 } });
    const r = await runCli(['run', '--spec', file], { env: { ...env, REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(r.code).toBe(4);
    expect(r.stderr).toBe(
      'zcbench run: cannot reach Redis at 127.0.0.1:1 (ECONNREFUSED): start one (e.g. `redis-server --daemonize yes` or `docker run -d -p 6379:6379 redis:7`) or set REDIS_URL to a running one\n',
    );
    const w = await runCli(['work', '--pool', 'medium'], { env });
    expect(w.code).toBe(2);
    expect(w.stderr).toBe('zcbench work: invalid --pool: "medium" (one of light, heavy)\n');
  });

  test('`produce` enqueues; `work` finishes the job in hand on SIGTERM and exits 0', async () => {
    const dataset = `zct-cli-term-${process.pid}`;
    const file = spec('term.json', {
      dataset,
      spaces: ['nasbench201'],
      tasks: ['cifar10'],
      proxies: ['l2_norm', 'synflow'],
      archs: ['(2, 3, 2, 0, 2, 3)'],
      batchSize: { default: 8 },
      buildId: `${dataset}-b`,
    });
    const p = await runCli(['produce', '--spec', file], {
      env: { ...env, S3_ENDPOINT: s3.embedded.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
    });
    expect(p.code).toBe(0);
    expect(p.stdout).toBe(`build ${dataset}-b: 2 triples to compute; enqueued 1 messages (2 triples)\n`);

    const queue = openQueue('light', redis, prefix);
    let worker: ChildProcess | undefined;
    const exited = runCli(['work', '--pool', 'light', '--concurrency', '1'], { env, onSpawn: (c) => (worker = c) });
    const deadline = Date.now() + 120_000;
    while ((await queue.getActiveCount()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await queue.getActiveCount()).toBe(1);
    worker!.kill('SIGTERM');
    const r = await exited;
    expect(r.code).toBe(0);
    // The job in hand was finished, its rows written, then the worker left.
    const rows = (await redis.xrange(redisKeys(prefix).results(`${dataset}-b`), '-', '+')).map(
      ([, f]) => JSON.parse(f[1]!) as { proxy: string; status: string },
    );
    expect(rows.map((row) => [row.proxy, row.status]).sort()).toEqual([
      ['l2_norm', 'ok'],
      ['synflow', 'ok'],
    ]);
    expect(await queue.getJobCounts('waiting', 'active', 'failed')).toEqual({ waiting: 0, active: 0, failed: 0 });
    await queue.close();
  });

  test('`run` builds and publishes on the embedded S3, then `status` reports the build', async () => {
    const dataset = `zct-cli-run-${process.pid}`;
    const file = spec('run.yaml', {
      dataset,
      spaces: ['nasbench201'],
      tasks: ['cifar10', 'cifar100'],
      proxies: ['params', 'flops'],
      archs: { sample: 6, seed: 4 },
    });
    const r = await runCli(['run', '--spec', file, '--build-id', `${dataset}-b`], { env });
    expect(r.stderr).not.toMatch(/error|internal/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`published ${dataset}@v1: 24 rows`);
    expect(r.stdout).toContain('coverage nasbench201/cifar10: 2 proxies, 12/12 triples ok (100.0 %)');
    expect(r.stdout).toContain('coverage nasbench201/cifar100: 2 proxies, 12/12 triples ok (100.0 %)');
    expect(r.stdout).toContain(`manifest: s3://zcbench/datasets/${dataset}/versions/v1.json`);
    expect(r.stdout).toContain(join(dir, 'home', 's3'));

    const s = await runCli(['status', `${dataset}-b`, '--json'], { env });
    expect(s.code).toBe(0);
    const status = JSON.parse(s.stdout) as { queues: { queue: string; counts: Record<string, number> }[]; builds: Record<string, unknown>[] };
    expect(status.queues.map((q) => q.queue)).toEqual(['zc-light', 'zc-heavy']);
    for (const q of status.queues) expect(q.counts).toMatchObject({ waiting: 0, active: 0, failed: 0 });
    expect(status.builds).toEqual([
      expect.objectContaining({ buildId: `${dataset}-b`, state: 'published', expected: 24, ok: 24, failed: 0, aggregated: 24, version: 'v1', etaSeconds: 0 }),
    ]);
    const text = await runCli(['status', `${dataset}-b`], { env });
    expect(text.stdout).toMatch(
      new RegExp(`${dataset}-b \\[published\\]: 24/24 triples \\(100 %\\): 24 ok, 0 failed; 24 aggregated, [0-9.]+ triples/s, published as ${dataset}@v1`),
    );
  });

  test('`run` with a password in REDIS_URL prints the URL without it', async () => {
    const u = new URL(redisUrl());
    const withPassword = `redis://:${SECRET}@${u.hostname}:${u.port || '6379'}`;
    const file = spec('redact.json', {
      dataset: `zct-redact-${process.pid}`,
      spaces: ['nasbench201'],
      tasks: ['cifar10'],
      proxies: ['params'],
      archs: { sample: 2 },
    });
    const r = await runCli(['run', '--spec', file, '--workers', '1'], { env: { ...env, LOG_LEVEL: 'debug', REDIS_URL: withPassword } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Redis redis://***@${u.hostname}:${u.port || '6379'}`);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  test('a malformed REDIS_URL or S3 endpoint: the error names it without its password', async () => {
    const badRedis = await runCli(['status'], { env: { ...env, REDIS_URL: `redis://:${SECRET}@[oops` } });
    expect(badRedis.code).toBe(4);
    expect(badRedis.stderr).toBe('zcbench status: REDIS_URL "redis://***@[oops" is not a URL (expected e.g. redis://127.0.0.1:6379)\n');
    const badEnv = await runCli(['ls'], { env: { ...env, S3_ENDPOINT: `http://admin:${SECRET}@[oops` } });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/^zcbench ls: invalid environment variable S3_ENDPOINT: "http:\/\/\*\*\*@\[oops"/);
    const badFlag = await runCli(['ls', '--endpoint', `ftp://admin:${SECRET}@host`], { env });
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toBe('zcbench ls: invalid --endpoint: "ftp://***@host/" (an http:// or https:// URL)\n');
    for (const r of [badRedis, badEnv, badFlag]) expect(r.stdout + r.stderr).not.toContain(SECRET);
  });
});
