import type { Redis } from 'ioredis';
import { InputError, ServiceError } from '../src/errors';
import { createBuild } from '../src/queue/build';
import { connectRedis } from '../src/queue/connection';
import { JOB_NAME, redisKeys } from '../src/queue/names';
import { JOB_OPTIONS, openQueue } from '../src/queue/queues';
import type { JobPayload } from '../src/queue/schema';
import type { ResultRow } from '../src/storage/rows';
import { localFingerprint } from '../src/version';
import { ChildJobError } from '../src/worker/child-pool';
import { isInfrastructureError } from '../src/worker/infra-retry';
import { startWorker, type PipelineWorker } from '../src/worker/worker';
import { testLog, uniquePrefix, until } from './helpers/pipeline';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server';

/**
 * An infrastructure outage outlasting the ordinary retries: a Redis of this test's own refuses
 * every write (maxmemory reached) while a job's rows are due. The job's ordinary retries are
 * scaled down (2 tries, 200 ms apart: today's 4 tries over ~14 s); the outage lasts 3 s after the
 * first refused write, the infrastructure retries up to a minute. Every row must end `ok`.
 */
jest.setTimeout(180_000);

/** Commands Redis refused for memory since it started (INFO errorstats). */
async function refusedForMemory(admin: Redis): Promise<number> {
  const m = /^errorstat_OOM:count=(\d+)/m.exec(await admin.info('errorstats'));
  return m ? Number(m[1]) : 0;
}

describe('a Redis outage longer than the ordinary retry budget', () => {
  let server: TestRedisServer;
  let redis: Redis;
  let worker: PipelineWorker | undefined;
  const prefix = uniquePrefix('outage');
  beforeAll(async () => {
    server = await startRedisServer();
    redis = await connectRedis(server.url);
  });
  afterAll(async () => {
    await server.admin.config('SET', 'maxmemory', '0').catch(() => undefined);
    await worker?.close();
    redis?.disconnect();
    await server?.stop();
  });

  test("what counts as infrastructure: Redis refusing writes, a ServiceError; not a proxy's error or bad input, nor a wrong command", async () => {
    const refusal = async () => {
      await server.admin.config('SET', 'maxmemory', '1');
      try {
        return await redis.set('zct-outage-probe', 'x').then(
          () => undefined,
          (err: unknown) => err,
        );
      } finally {
        await server.admin.config('SET', 'maxmemory', '0');
      }
    };
    const oom = await refusal();
    expect((oom as Error).message).toMatch(/^OOM /);
    expect(isInfrastructureError(oom)).toBe(true);
    expect(isInfrastructureError(new ServiceError('S3 PUT failed (still failing after 9 attempts over 120 s): ECONNREFUSED'))).toBe(true);
    await redis.set('zct-outage-string', 'x');
    const wrongType = await redis.lpush('zct-outage-string', 'y').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((wrongType as Error).message).toMatch(/^WRONGTYPE/);
    expect(isInfrastructureError(wrongType)).toBe(false);
    expect(isInfrastructureError(new InputError('arch', '(9, 9)', 'an NB201 cell'))).toBe(false);
    expect(isInfrastructureError(new ChildJobError({ name: 'Error', message: 'gradient function not found for Foo' }))).toBe(false);
  });

  test('ends with every row ok: the rows wait for Redis, the job is not failed', async () => {
    const buildId = `zct-outage-${process.pid}`;
    await createBuild(redis, prefix, { buildId, dataset: 'zct-outage', spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    const p: JobPayload = {
      buildId,
      dataset: 'zct-outage',
      space: 'nasbench201',
      task: 'cifar10',
      arch: '(2, 3, 2, 0, 2, 3)',
      proxies: ['l2_norm', 'synflow'],
      seed: 0,
      batchSize: 8,
      data: { source: 'synthetic' },
      fingerprint: localFingerprint().id,
      dataId: 'synthetic',
    };
    const queue = openQueue('light', redis, prefix);
    await queue.add(JOB_NAME, p, { ...JOB_OPTIONS, attempts: 2, backoff: { type: 'fixed', delay: 200 }, jobId: 'zoutage' });
    worker = startWorker({
      pool: 'light',
      connection: redis,
      prefix,
      concurrency: 1,
      lightBudgetBytes: 3 * 2 ** 30,
      heavyBudgetBytes: 4 * 2 ** 30,
      log: testLog('outage'),
      infraRetry: { maxMs: 60_000, capMs: 500 },
    });
    // The outage starts while the child computes, so the job is active and its rows are due during it.
    worker.children.once('job-start', () => void server.admin.config('SET', 'maxmemory', '1'));
    await until('a write refused for memory', async () => ((await refusedForMemory(server.admin)) > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 3000));
    await server.admin.config('SET', 'maxmemory', '0');

    const rows = await until('both rows', async () => {
      const entries = await redis.xrange(redisKeys(prefix).results(buildId), '-', '+');
      return entries.length >= 2 ? entries.map(([, f]) => JSON.parse(f[1]!) as ResultRow) : undefined;
    });
    await until('the job to complete', async () => ((await queue.getJob('zoutage')) === undefined ? true : undefined));
    expect(rows.map((r) => [r.proxy, r.status, r.reason])).toEqual([
      ['l2_norm', 'ok', undefined],
      ['synflow', 'ok', undefined],
    ]);
    expect(worker.stats).toMatchObject({ triplesOk: 2, triplesFailed: 0 });
    await queue.close();
  });
});
