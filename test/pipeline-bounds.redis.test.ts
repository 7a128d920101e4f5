import { createBuild } from '../src/queue/build';
import { AGGREGATOR_GROUP, JOB_NAME, redisKeys } from '../src/queue/names';
import { JOB_OPTIONS, openQueue } from '../src/queue/queues';
import { resultsStreamStats, writeRows } from '../src/queue/results';
import type { JobPayload } from '../src/queue/schema';
import { createMetrics } from '../src/metrics';
import type { ResultRow } from '../src/storage/rows';
import { localFingerprint } from '../src/version';
import { startHarness, until, type Harness } from './helpers/pipeline';

/** The results stream's bounds: workers pause above its high-water mark, late rows do not recreate it, metrics show it. */
jest.setTimeout(120_000);

function row(arch: string): ResultRow {
  return {
    tripleId: `t-${arch}`,
    space: 'nasbench201',
    task: 'cifar10',
    arch,
    proxy: 'params',
    seed: 0,
    batchSize: 64,
    status: 'ok',
    score: 1,
    time: 0.01,
    backend: 'wasm',
    dataSource: 'synthetic',
    dataSha256: '',
    fingerprint: localFingerprint().id,
  };
}

describe('results stream bounds', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('bounds');
  });
  afterAll(async () => {
    await h?.close();
  });

  async function build(tag: string): Promise<string> {
    const buildId = `zct-${tag}-${process.pid}`;
    h.buildIds.push(buildId);
    await createBuild(h.redis, h.prefix, { buildId, dataset: `zct-${tag}`, spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    return buildId;
  }

  test('a late row of a published or removed build recreates neither its stream nor its counters', async () => {
    const published = await build('late');
    await h.redis.hset(redisKeys(h.prefix).build(published), 'state', 'published');
    const outcome = await writeRows(h.redis, h.prefix, published, [row('(0, 0, 0, 0, 0, 0)')]);
    expect(await h.redis.exists(redisKeys(h.prefix).results(published))).toBe(0);
    expect(await h.redis.hget(redisKeys(h.prefix).build(published), 'rowsOk')).toBeNull();
    expect(outcome).toBe('published');

    const removed = `zct-removed-${process.pid}`;
    h.buildIds.push(removed);
    const late = await writeRows(h.redis, h.prefix, removed, [row('(0, 0, 0, 0, 0, 0)')]);
    expect(await h.redis.exists(redisKeys(h.prefix).results(removed), redisKeys(h.prefix).build(removed), redisKeys(h.prefix).failures(removed))).toBe(0);
    expect(late).toBe('no-build');
  });

  test("a worker holds a job while its build's stream is above the high-water mark, then computes it", async () => {
    const buildId = await build('backpressure');
    // An aggregator that is down: three rows nobody has taken.
    for (const arch of ['(1, 1, 1, 1, 1, 1)', '(2, 2, 2, 2, 2, 2)', '(3, 3, 3, 3, 3, 3)']) await writeRows(h.redis, h.prefix, buildId, [row(arch)]);
    const worker = h.startWorker({ pool: 'light', resultsHighWater: 3, backPressurePollMs: 100 });
    const light = openQueue('light', h.redis, h.prefix);
    const p: JobPayload = {
      buildId,
      dataset: 'zct-backpressure',
      space: 'nasbench201',
      task: 'cifar10',
      archs: ['(0, 2, 3, 2, 3, 1)'],
      proxies: ['params'],
      seed: 0,
      batchSize: 64,
      data: { source: 'synthetic' },
      fingerprint: localFingerprint().id,
      dataId: 'synthetic',
    };
    await light.add(JOB_NAME, p, { ...JOB_OPTIONS, jobId: 'zbackpressure' });
    await until('the job to wait', async () => (worker.stats.pausedForBackPressure === 1 ? true : undefined));
    // Held, not failed and not computed: it is active, and the stream has not grown.
    expect(await light.getJobState('zbackpressure')).toBe('active');
    expect(await h.redis.xlen(redisKeys(h.prefix).results(buildId))).toBe(3);
    expect(worker.stats.jobsComputed).toBe(0);

    // The aggregator drains the stream: the job goes on.
    const ids = (await h.redis.xrange(redisKeys(h.prefix).results(buildId), '-', '+')).map(([id]) => id);
    await h.redis.xdel(redisKeys(h.prefix).results(buildId), ...ids);
    await until('the job to complete', async () => ((await light.getJob('zbackpressure')) === undefined ? true : undefined));
    expect(await h.redis.xlen(redisKeys(h.prefix).results(buildId))).toBe(1);
    // The worker counts a job just after its rows reach the stream the test reads.
    await until('the worker to count the job', async () => (worker.stats.jobsComputed >= 1 ? true : undefined));
    expect(worker.stats).toMatchObject({ jobsComputed: 1, triplesOk: 1, pausedForBackPressure: 1 });
    await worker.close();
    await light.close();
  });

  test("metrics: stream length, the aggregator's lag and pending entries, and the build's age", async () => {
    const buildId = await build('stream-metrics');
    for (const arch of ['(1, 1, 1, 1, 1, 1)', '(2, 2, 2, 2, 2, 2)', '(3, 3, 3, 3, 3, 3)']) await writeRows(h.redis, h.prefix, buildId, [row(arch)]);
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    metrics.collectResultsStreams(() => resultsStreamStats(h.redis, h.prefix));
    const value = async (name: string) => {
      const m = (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.build === buildId);
      return m?.value;
    };
    expect(await value('zcbench_results_stream_entries')).toBe(3);
    expect(await value('zcbench_results_consumer_lag')).toBe(3); // no aggregator has read anything
    expect(await value('zcbench_results_consumer_pending')).toBe(0);
    expect(await value('zcbench_build_age_seconds')).toBeGreaterThanOrEqual(0);

    // An aggregator reads two entries and has not acknowledged them yet.
    await h.redis.xgroup('CREATE', redisKeys(h.prefix).results(buildId), AGGREGATOR_GROUP, '0');
    await h.redis.xreadgroup('GROUP', AGGREGATOR_GROUP, 'a1', 'COUNT', 2, 'STREAMS', redisKeys(h.prefix).results(buildId), '>');
    await new Promise((r) => setTimeout(r, 1100)); // one reading serves a scrape's gauges for a second
    expect(await value('zcbench_results_consumer_lag')).toBe(1);
    expect(await value('zcbench_results_consumer_pending')).toBe(2);

    // Published: its series go.
    await h.redis.hset(redisKeys(h.prefix).build(buildId), 'state', 'published');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await value('zcbench_results_stream_entries')).toBeUndefined();
  });
});
