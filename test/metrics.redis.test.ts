import { randomUUID } from 'crypto';
import { existsSync } from 'fs';
import { Queue } from 'bullmq';
import { createMetrics, reasonClass, startMetricsServer, type MetricsServer } from '../src/metrics';

const REDIS = { host: '127.0.0.1', port: 6379 };

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** The value of one sample line `name{labels} value`, labels given in any order. */
function sample(body: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.keys(labels).length === Object.keys(got).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics server', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('serves counters and the duration histogram of recorded jobs over HTTP', async () => {
    const metrics = createMetrics();
    server = await startMetricsServer({ port: 0, metrics, host: '127.0.0.1' });

    // Job 1: one (arch, task) message with two proxies; job 2: one failed triple.
    metrics.tripleDone({ space: 'nasbench201', task: 'cifar10', proxy: 'synflow', seconds: 0.7 });
    metrics.tripleDone({ space: 'nasbench201', task: 'cifar10', proxy: 'jacov', seconds: 3 });
    metrics.tripleFailed({
      space: 'transbench101_micro',
      task: 'jigsaw',
      proxy: 'grasp',
      reason: 'out of memory: needs an estimated 6144 MB > heavy budget 3072 MB',
    });
    metrics.setLastPublished('zc-nb201', 'v1');
    metrics.setLastPublished('zc-nb201', 'v2');

    const { status, type, body } = await scrape(server.port);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);

    expect(sample(body, 'zcbench_triples_done_total', { space: 'nasbench201', task: 'cifar10', proxy: 'synflow' })).toBe(1);
    expect(sample(body, 'zcbench_triples_done_total', { space: 'nasbench201', task: 'cifar10', proxy: 'jacov' })).toBe(1);
    expect(sample(body, 'zcbench_triples_failed_total', { space: 'transbench101_micro', task: 'jigsaw', proxy: 'grasp', reason: 'out_of_memory' })).toBe(1);

    // Histogram per proxy: 0.7 s falls in le=1 but not le=0.5; 3 s only from le=5 up.
    expect(sample(body, 'zcbench_triple_duration_seconds_bucket', { proxy: 'synflow', le: '0.5' })).toBe(0);
    expect(sample(body, 'zcbench_triple_duration_seconds_bucket', { proxy: 'synflow', le: '1' })).toBe(1);
    expect(sample(body, 'zcbench_triple_duration_seconds_bucket', { proxy: 'jacov', le: '2.5' })).toBe(0);
    expect(sample(body, 'zcbench_triple_duration_seconds_bucket', { proxy: 'jacov', le: '5' })).toBe(1);
    expect(sample(body, 'zcbench_triple_duration_seconds_count', { proxy: 'jacov' })).toBe(1);
    expect(sample(body, 'zcbench_triple_duration_seconds_sum', { proxy: 'synflow' })).toBeCloseTo(0.7);
    expect(body).toContain('# TYPE zcbench_triple_duration_seconds histogram');

    // Only the current version of a dataset is reported.
    expect(sample(body, 'zcbench_dataset_published_info', { dataset: 'zc-nb201', version: 'v2' })).toBe(1);
    expect(sample(body, 'zcbench_dataset_published_info', { dataset: 'zc-nb201', version: 'v1' })).toBeUndefined();
    expect(sample(body, 'zcbench_dataset_published_timestamp_seconds', { dataset: 'zc-nb201' })).toBeGreaterThan(1.6e9);

    // Memory of the serving process (default metrics).
    expect(sample(body, 'process_resident_memory_bytes', {})).toBeGreaterThan(0);
    expect(sample(body, 'nodejs_heap_size_used_bytes', {})).toBeGreaterThan(0);
    // Memory of the whole container (children included), where the cgroup files are readable.
    const cgroup = existsSync('/sys/fs/cgroup/memory.current') || existsSync('/sys/fs/cgroup/memory/memory.usage_in_bytes');
    expect(sample(body, 'zcbench_container_memory_bytes', {}) !== undefined).toBe(cgroup);
    if (cgroup) expect(sample(body, 'zcbench_container_memory_bytes', {})).toBeGreaterThan(0);
    // A limit is reported only when there is one (never as 0).
    expect(sample(body, 'zcbench_container_memory_limit_bytes', {})).not.toBe(0);

    expect((await scrape(server.port, '/healthz')).status).toBe(200);
    expect((await scrape(server.port, '/nope')).status).toBe(404);
  });

  test('reports BullMQ queue depth per state, read from Redis at scrape time', async () => {
    const prefix = `zctest-metrics-${randomUUID()}`;
    const light = new Queue('zc-light', { connection: REDIS, prefix });
    const heavy = new Queue('zc-heavy', { connection: REDIS, prefix });
    try {
      const metrics = createMetrics(undefined, { defaultMetrics: false });
      metrics.collectQueueDepths([light, heavy]);
      server = await startMetricsServer({ port: 0, metrics, host: '127.0.0.1' });

      await light.add('compute', { n: 1 });
      await light.add('compute', { n: 2 });
      await light.add('compute', { n: 3 }, { delay: 60_000 });
      await heavy.add('compute', { n: 4 }, { priority: 5 });

      let body = (await scrape(server.port)).body;
      expect(sample(body, 'zcbench_queue_jobs', { queue: 'zc-light', state: 'waiting' })).toBe(2);
      expect(sample(body, 'zcbench_queue_jobs', { queue: 'zc-light', state: 'delayed' })).toBe(1);
      expect(sample(body, 'zcbench_queue_jobs', { queue: 'zc-light', state: 'active' })).toBe(0);
      expect(sample(body, 'zcbench_queue_jobs', { queue: 'zc-heavy', state: 'prioritized' })).toBe(1);

      // Values follow the queue, not a cache.
      await light.drain(true);
      body = (await scrape(server.port)).body;
      expect(sample(body, 'zcbench_queue_jobs', { queue: 'zc-light', state: 'waiting' })).toBe(0);
    } finally {
      await light.obliterate({ force: true });
      await heavy.obliterate({ force: true });
      await light.close();
      await heavy.close();
    }
  });

  test('rejects bad input with the field named', () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    expect(() => metrics.tripleDone({ space: 'nasbench201', task: 'cifar10', proxy: 'snip', seconds: NaN })).toThrow(
      'invalid seconds: null (a finite number ≥ 0)',
    );
    expect(() => metrics.setQueueDepth('zc-light', 'sleeping' as never, 1)).toThrow(/invalid state: "sleeping"/);
    expect(() => metrics.setQueueDepth('zc-light', 'waiting', -1)).toThrow(/invalid n: -1/);
  });

  test('failure reasons are reduced to a short class', () => {
    expect(reasonClass('out of memory: killed')).toBe('out_of_memory');
    expect(reasonClass('out of memory on the heavy pool at batch size 16: OOM')).toBe('out_of_memory_on_the_heavy_pool_at_batch_size');
    expect(reasonClass('failed after 4 attempts: ECONNRESET')).toBe('failed_after_attempts');
    expect(reasonClass('invalid input: arch "x"')).toBe('invalid_input');
    expect(reasonClass('  ')).toBe('unknown');
  });

  test('a busy port is a clear error', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    server = await startMetricsServer({ port: 0, metrics, host: '127.0.0.1' });
    await expect(startMetricsServer({ port: server.port, metrics, host: '127.0.0.1' })).rejects.toThrow(
      `cannot serve metrics on 127.0.0.1:${server.port}: EADDRINUSE`,
    );
  });
});
