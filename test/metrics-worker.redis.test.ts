/**
 * The metrics a real worker reports: a light worker computes jobs from a real BullMQ queue and its
 * counters and histogram are scraped over HTTP.
 */
import type { Redis } from 'ioredis';
import { logger } from '../src/log';
import { createBuild } from '../src/queue/build';
import { createMetrics, startMetricsServer, type MetricsServer } from '../src/metrics';
import { openQueue, addJobs, type ComputeQueue } from '../src/queue/queues';
import type { JobPayload } from '../src/queue/schema';
import { localFingerprint } from '../src/version';
import { startWorker, type PipelineWorker } from '../src/worker/worker';
import { cleanupRedis, testRedis, uniquePrefix } from './helpers/pipeline';

const BUILD_ID = `zct-metrics-worker-${process.pid}`;

function payload(arch: string, n: number): { jobId: string; payload: JobPayload } {
  const proxies = ['params', 'flops'] as const;
  return {
    jobId: `job-${n}`,
    payload: {
      buildId: BUILD_ID,
      dataset: 'zct-metrics',
      space: 'nasbench201',
      task: 'cifar10',
      arch,
      proxies: [...proxies],
      tripleIds: Object.fromEntries(proxies.map((p) => [p, `t${n}-${p}`])),
      seed: 0,
      batchSize: 64,
      data: { source: 'synthetic' },
      fingerprint: localFingerprint().id,
      dataId: 'synthetic',
    },
  };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('worker metrics', () => {
  const prefix = uniquePrefix('metrics-worker');
  let redis: Redis;
  let queue: ComputeQueue;
  let worker: PipelineWorker | undefined;
  let server: MetricsServer | undefined;

  beforeAll(async () => {
    redis = await testRedis();
    await createBuild(redis, prefix, { buildId: BUILD_ID, dataset: 'zct-metrics', spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    queue = openQueue('light', redis, prefix);
  });
  afterAll(async () => {
    await worker?.close();
    await server?.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await cleanupRedis(redis, prefix);
    await redis.quit();
  });

  test('a light worker records done and failed triples; /metrics shows them with their labels', async () => {
    const metrics = createMetrics();
    metrics.collectQueueDepths([queue]);
    server = await startMetricsServer({ port: 0, metrics, host: '127.0.0.1' });
    worker = startWorker({
      pool: 'light',
      connection: redis,
      prefix,
      concurrency: 1,
      lightBudgetBytes: 3 * 2 ** 30,
      heavyBudgetBytes: 8 * 2 ** 30,
      log: logger,
      metrics,
    });

    // Two valid architectures (params and flops are computed from shapes, in the worker process)
    // and one that is not an NB201 cell (op 9): its two triples fail as invalid input.
    await addJobs(queue, [payload('(0, 2, 3, 2, 3, 1)', 1), payload('(4, 0, 3, 1, 4, 3)', 2), payload('(0, 1, 2, 3, 4, 9)', 3)]);
    await until(() => worker!.stats.triplesOk + worker!.stats.triplesFailed === 6, 60_000);
    expect(worker.stats).toMatchObject({ triplesOk: 4, triplesFailed: 2 });

    const body = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    const labels = 'space="nasbench201",task="cifar10"';
    expect(body).toMatch(new RegExp(`^zcbench_triples_done_total\\{${labels},proxy="params"\\} 2$`, 'm'));
    expect(body).toMatch(new RegExp(`^zcbench_triples_done_total\\{${labels},proxy="flops"\\} 2$`, 'm'));
    expect(body).toMatch(new RegExp(`^zcbench_triples_failed_total\\{${labels},proxy="params",reason="invalid_input"\\} 1$`, 'm'));
    expect(body).toMatch(/^zcbench_triple_duration_seconds_count\{proxy="params"\} 2$/m);
    expect(body).toMatch(/^zcbench_triple_duration_seconds_bucket\{le="\+Inf",proxy="flops"\} 2$/m);
    // Everything was taken: nothing waits or runs any more.
    expect(body).toMatch(/^zcbench_queue_jobs\{queue="zc-light",state="waiting"\} 0$/m);
    expect(body).toMatch(/^zcbench_queue_jobs\{queue="zc-light",state="active"\} 0$/m);
  });
});
