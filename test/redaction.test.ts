import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import type { Redis } from 'ioredis';
import { tmpdir } from 'os';
import { join } from 'path';
import { redactUrl } from '../src/log';
import { runCli } from './helpers/cli';
import { cleanupRedis, redisUrl, testRedis, uniquePrefix } from './helpers/pipeline';

/** Credentials in REDIS_URL and S3 endpoints never reach output or logs. */
jest.setTimeout(180_000);

const SECRET = 's3cret-do-not-print';

test('redactUrl hides user and password, also in text that is not a URL', () => {
  expect(redactUrl(`redis://:${SECRET}@127.0.0.1:6379/0`)).toBe('redis://***@127.0.0.1:6379/0');
  expect(redactUrl(`https://user:${SECRET}@minio:9000`)).toBe('https://***@minio:9000/');
  expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  expect(redactUrl(`redis://:${SECRET}@[not-a-host`)).toBe('redis://***@[not-a-host');
  expect(redactUrl(`rediss://u:${SECRET} with space@host`)).not.toContain(SECRET);
});

describe('commands print no credentials', () => {
  const prefix = uniquePrefix('redact');
  const dir = mkdtempSync(join(tmpdir(), 'zct-redact-'));
  const env = { ZC_QUEUE_PREFIX: prefix, ZC_HOME: join(dir, 'home'), METRICS_PORT: '0', LOG_LEVEL: 'debug' };
  const buildIds: string[] = [];
  let redis: Redis;
  beforeAll(async () => {
    redis = await testRedis();
  });
  afterAll(async () => {
    await cleanupRedis(redis, prefix, buildIds);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test('`run` with a password in REDIS_URL prints the URL without it', async () => {
    const u = new URL(redisUrl());
    const withPassword = `redis://:${SECRET}@${u.hostname}:${u.port || '6379'}`;
    const dataset = `zct-redact-${process.pid}`;
    const file = join(dir, 'spec.json');
    writeFileSync(file, JSON.stringify({ dataset, spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params'], archs: { sample: 2 } }));
    const r = await runCli(['run', '--spec', file, '--workers', '1'], { env: { ...env, REDIS_URL: withPassword } });
    buildIds.push(...[...r.stderr.matchAll(/^run (\S+):/gm)].map((m) => m[1]!));
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
