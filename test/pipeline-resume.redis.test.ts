import { spawn, type ChildProcess } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import type { Redis } from 'ioredis';
import { tmpdir } from 'os';
import { join } from 'path';
import { Aggregator } from '../src/aggregator/aggregator';
import { readSegments } from '../src/aggregator/segments';
import { connectRedis } from '../src/queue/connection';
import { redisKeys } from '../src/queue/names';
import { openQueue } from '../src/queue/queues';
import { startEmbeddedS3 } from '../src/storage/embedded';
import { openStore } from '../src/storage/store';
import { resolveVersion } from '../src/storage/versions';
import { startWorker } from '../src/worker/worker';
import { runCli } from './helpers/cli';
import { freePort } from './helpers/redis-server';
import { cleanupRedis, startTestS3, testLog, testRedis, uniquePrefix, until, type TestS3 } from './helpers/pipeline';

/** A build outlives Redis: what its segments in S3 hold is not computed again, and Redis alone never says "published". */
jest.setTimeout(240_000);

const SPEC = { spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params', 'flops'], archs: { sample: 4, seed: 2 } };

describe('Redis flushed under a half-done build', () => {
  // A Redis of this test's own (no persistence): FLUSHALL must not touch anyone else's keys.
  let server: ChildProcess;
  let url: string;
  let redis: Redis;
  let s3: TestS3;
  let dir: string;
  beforeAll(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    redis = await until('the test Redis', async () => connectRedis(url).catch(() => undefined));
    s3 = await startTestS3('resume');
    dir = mkdtempSync(join(tmpdir(), 'zct-resume-'));
  });
  afterAll(async () => {
    redis?.disconnect();
    server?.kill('SIGTERM');
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `zcbench produce` of a dataset's spec file, as the resume runs it. */
  function producer(prefix: string, dataset: string) {
    const specFile = join(dir, `${dataset}.json`);
    writeFileSync(specFile, JSON.stringify({ dataset, ...SPEC }));
    const env = {
      REDIS_URL: url,
      ZC_QUEUE_PREFIX: prefix,
      S3_ENDPOINT: s3.embedded.endpoint,
      S3_BUCKET: s3.storeOpts.bucket,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    };
    return async () => {
      const r = await runCli(['produce', '--spec', specFile, '--one-proxy-per-job', '--json'], { env });
      if (r.code !== 0) throw new Error(`produce exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as { buildId: string; expected: number; enqueuedTriples: number; alreadyStored: number };
    };
  }

  test('FLUSHALL, then produce again: only the triples missing from S3 are enqueued, the build publishes every row', async () => {
    const prefix = uniquePrefix('resume');
    const log = testLog('resume');
    const produce = producer(prefix, 'zct-resume');
    const first = await produce();
    expect(first).toMatchObject({ expected: 8, enqueuedTriples: 8 });
    const { buildId } = first;

    // Half of it computed: four of the eight one-triple jobs are dropped before any worker runs.
    const light = openQueue('light', redis, prefix);
    for (const job of (await light.getWaiting()).slice(0, 4)) await job.remove();
    await light.close();
    const budgets = { lightBudgetBytes: 2 ** 30, heavyBudgetBytes: 2 ** 30 };
    const aggregator = new Aggregator({ redis, prefix, store: s3.store, log, buildIds: [buildId], untilPublished: true, flushIntervalMs: 50, lockTtlMs: 1500 });
    const published = aggregator.run();
    const firstWorker = startWorker({ connection: redis, prefix, pool: 'light', concurrency: 1, log, ...budgets });
    await until('four rows in S3 segments', async () => ((await redis.hget(redisKeys(prefix).build(buildId), 'aggregated')) === '4' ? true : undefined));
    await firstWorker.close();
    const stored = (await readSegments(s3.store, buildId)).rows.map((r) => r.tripleId);
    expect(stored).toHaveLength(4);

    // Redis loses everything; the aggregator keeps running through it.
    await redis.flushall();
    const second = await produce();
    expect(second).toMatchObject({ buildId, expected: 8, enqueuedTriples: 4, alreadyStored: 4 });

    const secondWorker = startWorker({ connection: redis, prefix, pool: 'light', concurrency: 1, log, ...budgets });
    try {
      const [p] = await published;
      expect(secondWorker.stats.triplesOk).toBe(4);
      const { manifest } = await resolveVersion(s3.store, 'zct-resume', p!.result.version);
      expect(manifest.rowCount).toBe(8);
      for (const c of manifest.coverage) expect(c).toMatchObject({ expected: 4, ok: 4, failed: 0 });
      expect(new Set((await readSegments(s3.store, buildId)).rows.map((r) => r.tripleId)).size).toBe(8);
    } finally {
      await secondWorker.close();
    }
  });

  test('FLUSHALL after the build was published, then produce again: Redis records it published, nothing is enqueued', async () => {
    // An aggregator that published the build keeps it as finished: a record back at `enqueued` would stay there.
    const prefix = uniquePrefix('resume-published');
    const log = testLog('resume-published');
    const produce = producer(prefix, 'zct-resume-published');
    const { buildId } = await produce();
    const worker = startWorker({ connection: redis, prefix, pool: 'light', concurrency: 1, log, lightBudgetBytes: 2 ** 30, heavyBudgetBytes: 2 ** 30 });
    try {
      const [p] = await new Aggregator({
        redis,
        prefix,
        store: s3.store,
        log,
        buildIds: [buildId],
        untilPublished: true,
        flushIntervalMs: 50,
        lockTtlMs: 1500,
      }).run();
      expect(p!.result.version).toBe('v1');
    } finally {
      await worker.close();
    }

    await redis.flushall();
    expect(await produce()).toMatchObject({ buildId, expected: 8, enqueuedTriples: 0, alreadyStored: 8 });
    expect(await redis.hmget(redisKeys(prefix).build(buildId), 'state', 'version')).toEqual(['published', 'v1']);
  });
});

describe('one Redis, two stores', () => {
  let redis: Redis;
  const prefix = uniquePrefix('two-stores');
  const buildIds: string[] = [];
  const homes: string[] = [];
  beforeAll(async () => {
    redis = await testRedis();
  });
  afterAll(async () => {
    await cleanupRedis(redis, prefix);
    redis?.disconnect();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  test('the same spec run against a fresh store on the same Redis is built and published there', async () => {
    const dataset = `zct-two-stores-${process.pid}`;
    const specDir = mkdtempSync(join(tmpdir(), 'zct-two-stores-'));
    homes.push(specDir);
    const specFile = join(specDir, 'spec.json');
    writeFileSync(specFile, JSON.stringify({ dataset, ...SPEC }));
    // Two clones: each its own ZC_HOME, so its own embedded store.
    const runIn = async (home: string) => {
      const r = await runCli(['run', '--spec', specFile, '--workers', '1'], { env: { ZC_HOME: home, ZC_QUEUE_PREFIX: prefix } });
      const id = /^run (\S+):/m.exec(r.stderr)?.[1];
      if (id) buildIds.push(id);
      return r;
    };
    const home1 = mkdtempSync(join(tmpdir(), 'zct-store1-'));
    const home2 = mkdtempSync(join(tmpdir(), 'zct-store2-'));
    homes.push(home1, home2);
    const one = await runIn(home1);
    expect(one.stderr + one.stdout).toMatch(new RegExp(`published ${dataset}@v1: 8 rows`));
    expect(one.code).toBe(0);
    const two = await runIn(home2);
    expect(two.stderr + two.stdout).toMatch(new RegExp(`published ${dataset}@v1: 8 rows`));
    expect(two.code).toBe(0);
    expect(two.stdout).toContain(join(home2, 's3'));

    // Store 2 loses the dataset (its segments stay); Redis still says published: `aggregate` publishes it again.
    const embedded = await startEmbeddedS3({ dir: join(home2, 's3') });
    try {
      const store = openStore({ endpoint: embedded.endpoint, credentials: embedded.credentials, bucket: embedded.bucket });
      for (const { key } of (await store.list(`datasets/${dataset}/`)).keys) await store.deleteKey(key);
      const buildId = buildIds[buildIds.length - 1]!;
      expect(await redis.hget(redisKeys(prefix).build(buildId), 'state')).toBe('published');
      const again = await runCli(['aggregate', buildId, '--until-published'], {
        env: { ZC_QUEUE_PREFIX: prefix, METRICS_PORT: '0', S3_ENDPOINT: embedded.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
      });
      expect(again.stdout).toContain(`published ${dataset}@v1 (build ${buildId}, 8 rows)`);
      expect((await resolveVersion(store, dataset)).manifest.rowCount).toBe(8);
    } finally {
      await embedded.stop();
    }
  });
});
