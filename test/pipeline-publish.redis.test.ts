import type { ChildProcess } from 'child_process';
import { Aggregator } from '../src/aggregator/aggregator';
import { readSegments, segmentKey, writeSegment } from '../src/aggregator/segments';
import { readBaseVersion } from '../src/producer/base';
import { createBuild, markEnqueued } from '../src/queue/build';
import { tripleId } from '../src/queue/ids';
import { AGGREGATOR_GROUP, redisKeys } from '../src/queue/names';
import { writeRows } from '../src/queue/results';
import { datasetKeys } from '../src/storage/manifest';
import type { ResultRow } from '../src/storage/rows';
import { readLatest, resolveVersion } from '../src/storage/versions';
import { localFingerprint } from '../src/version';
import { runCli } from './helpers/cli';
import { startHarness, type Harness } from './helpers/pipeline';
import { S3Proxy } from './helpers/s3-proxy';

/** The aggregator and publishing under faults: killed mid-publish, S3 down, results delivered twice. */
jest.setTimeout(300_000);

describe('aggregator and publishing', () => {
  let h: Harness;
  let proxy: S3Proxy;
  beforeAll(async () => {
    h = await startHarness('publish');
    proxy = await S3Proxy.start(h.s3.embedded.endpoint);
    // params and flops are shape-only: the workers compute them in process, fast.
    h.startWorker({ pool: 'light', concurrency: 4 });
  });
  afterAll(async () => {
    await proxy?.close();
    await h?.close();
  });

  const spec = (dataset: string, extra: Record<string, unknown>) => ({
    dataset,
    spaces: ['nasbench201'],
    tasks: ['cifar10'],
    archs: { sample: 4, seed: 2 },
    ...extra,
  });

  test('killed between writing objects and moving `latest`: latest stays on the previous version; a rerun completes', async () => {
    const ds = `zct-kill-agg-${process.pid}`;
    const first = h.plan(spec(ds, { proxies: ['params'] }));
    await h.produce(first);
    const [v1] = await h.aggregate([first.buildId]);
    expect(v1!.result.version).toBe('v1');

    const second = h.plan(spec(ds, { proxies: ['params', 'flops'], baseVersion: 'v1' }));
    expect(await h.produce(second, await readBaseVersion(h.s3.storeOpts, ds, 'v1'))).toMatchObject({ expected: 4, skippedBase: 4 });

    // The aggregator runs as its own process; the moment it asks S3 to move `latest`, it dies.
    let aggregator: ChildProcess | undefined;
    let killedAt: string | undefined;
    proxy.onRequest = (req) => {
      if (req.method === 'PUT' && req.url?.split('?')[0]!.endsWith(`/${datasetKeys.latest(ds)}`) && aggregator && !killedAt) {
        killedAt = req.url;
        aggregator.kill('SIGKILL');
        return false;
      }
      return true;
    };
    const env = { ZC_QUEUE_PREFIX: h.prefix, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', S3_ENDPOINT: proxy.endpoint, METRICS_PORT: '0' };
    const killed = await runCli(['aggregate', second.buildId, '--until-published'], { env, onSpawn: (c) => (aggregator = c) });
    if (!killedAt) throw new Error(`aggregator exited ${killed.code}: ${killed.stderr}${killed.stdout}`);
    expect(killed.code).toBeNull();

    // Objects and the v2 manifest were written, but readers still see v1, complete.
    expect(await h.s3.store.getKey(datasetKeys.manifest(ds, 'v2'))).not.toBeNull();
    expect((await readLatest(h.s3.store, ds))!.version).toBe('v1');
    expect((await resolveVersion(h.s3.store, ds)).manifest.rowCount).toBe(4);

    proxy.onRequest = () => true;
    const rerun = await runCli(['aggregate', second.buildId, '--until-published'], { env });
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`published ${ds}@v2`);
    const latest = await resolveVersion(h.s3.store, ds);
    expect(latest.manifest).toMatchObject({ version: 'v2', parentVersion: 'v1', rowCount: 8 });
    for (const c of latest.manifest.coverage) expect(c).toMatchObject({ expected: 4, ok: 4 });
  });

  test('S3 unavailable during publishing: retries with back-off, publishes when it is back, nothing lost', async () => {
    const ds = `zct-s3-down-${process.pid}`;
    const plan = h.plan(spec(ds, { proxies: ['params', 'flops'] }));
    await h.produce(plan);
    // S3 goes away at the first object upload of the publish, for 4 s: longer than the store's own retries (1 s).
    let outage: Promise<void> | undefined;
    proxy.onRequest = (req) => {
      if (!outage && req.method === 'PUT' && req.url?.includes('/objects/sha256/')) {
        outage = (async () => {
          await proxy.down();
          await new Promise((r) => setTimeout(r, 4000));
          await proxy.up();
        })();
        return false;
      }
      return true;
    };
    const started = Date.now();
    const [published] = await h.aggregate([plan.buildId], h.s3.storeAt(proxy.endpoint, 1000));
    await outage;
    proxy.onRequest = () => true;
    expect(outage).toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    const m = published!.result.manifest;
    expect(m.rowCount).toBe(8);
    for (const c of m.coverage) expect(c).toMatchObject({ expected: 4, ok: 4, failed: 0 });
    expect((await readLatest(h.s3.store, ds))!.version).toBe(m.version);
  });

  test('results delivered twice or left pending by a crashed aggregator make one row per triple', async () => {
    const buildId = `zct-once-${process.pid}`;
    const dataset = buildId;
    h.buildIds.push(buildId);
    const row = (arch: string, status: 'ok' | 'failed'): ResultRow => ({
      tripleId: tripleId({
        dataset,
        space: 'nasbench201',
        task: 'cifar10',
        arch,
        proxy: 'params',
        seed: 0,
        batchSize: 64,
        fingerprint: localFingerprint().id,
        data: 'none',
      }),
      space: 'nasbench201',
      task: 'cifar10',
      arch,
      proxy: 'params',
      seed: 0,
      batchSize: 64,
      status,
      score: status === 'ok' ? 0.1 : null,
      time: status === 'ok' ? 0.01 : null,
      ...(status === 'failed' ? { reason: 'job failed: job stalled more than allowable limit' } : {}),
      backend: status === 'ok' ? 'wasm' : 'none',
      dataSource: 'none',
      dataSha256: '',
      fingerprint: localFingerprint().id,
    });
    const a = '(0, 1, 2, 3, 4, 0)';
    const b = '(1, 1, 1, 1, 1, 1)';
    const c = '(2, 2, 2, 2, 2, 2)';
    await createBuild(h.redis, h.prefix, { buildId, dataset, spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    await markEnqueued(h.redis, h.prefix, buildId, [{ space: 'nasbench201', task: 'cifar10', proxy: 'params', count: 3 }]);
    // What a crashed aggregator leaves: a segment with row a, and read-but-unacknowledged entries.
    await writeSegment(h.s3.store, segmentKey(buildId, 1, 0), [row(a, 'ok')]);
    await writeRows(h.redis, h.prefix, buildId, [row(a, 'ok'), row(b, 'failed')]);
    await h.redis.xgroup('CREATE', redisKeys(h.prefix).results(buildId), AGGREGATOR_GROUP, '0', 'MKSTREAM');
    await h.redis.xreadgroup('GROUP', AGGREGATOR_GROUP, 'crashed-aggregator', 'COUNT', 10, 'STREAMS', redisKeys(h.prefix).results(buildId), '>');
    // Redelivered jobs: b again, now ok (ok replaces failed), c twice.
    await writeRows(h.redis, h.prefix, buildId, [row(b, 'ok'), row(c, 'ok'), row(c, 'ok')]);

    const published = await new Aggregator({
      redis: h.redis,
      prefix: h.prefix,
      store: h.s3.store,
      log: h.log,
      buildIds: [buildId],
      untilPublished: true,
      flushIntervalMs: 100,
    }).run();
    const m = published[0]!.result.manifest;
    expect(m.rowCount).toBe(3);
    expect(m.coverage).toEqual([expect.objectContaining({ expected: 3, ok: 3, failed: 0 })]);
    const { rows } = await readSegments(h.s3.store, buildId);
    expect(rows.filter((r) => r.arch === a)).toHaveLength(1);
    expect(rows.filter((r) => r.arch === c)).toHaveLength(1);
    expect(await h.redis.exists(redisKeys(h.prefix).results(buildId))).toBe(0);
  });
});
