import { Aggregator } from '../src/aggregator/aggregator';
import { createBuild, markEnqueued } from '../src/queue/build';
import { tripleId } from '../src/queue/ids';
import { writeRows } from '../src/queue/results';
import type { ResultRow } from '../src/storage/rows';
import { listVersionIds, readLatest } from '../src/storage/versions';
import { localFingerprint } from '../src/version';
import { startHarness, type Harness } from './helpers/pipeline';

/** Two aggregators started at once on one build: the build lock lets exactly one of them publish. */
jest.setTimeout(120_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness('two-aggregators');
});
afterAll(async () => {
  await h?.close();
});

test('two aggregators started at once: only one publishes, one version exists', async () => {
  const buildId = `zct-two-agg-${process.pid}`;
  const dataset = buildId;
  h.buildIds.push(buildId);
  const archs = ['(0, 1, 2, 3, 4, 0)', '(1, 1, 1, 1, 1, 1)', '(2, 2, 2, 2, 2, 2)'];
  const rows: ResultRow[] = archs.map((arch) => ({
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
    status: 'ok',
    score: 0.1,
    time: 0.01,
    backend: 'wasm',
    dataSource: 'none',
    dataSha256: '',
    fingerprint: localFingerprint().id,
  }));
  await createBuild(h.redis, h.prefix, { buildId, dataset, spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
  await markEnqueued(h.redis, h.prefix, buildId, [{ space: 'nasbench201', task: 'cifar10', proxy: 'params', count: archs.length }]);
  await writeRows(h.redis, h.prefix, buildId, rows);

  const start = () =>
    new Aggregator({ redis: h.redis, prefix: h.prefix, store: h.s3.store, log: h.log, buildIds: [buildId], untilPublished: true, flushIntervalMs: 50 }).run();
  const [a, b] = await Promise.all([start(), start()]);

  expect(a.length + b.length).toBe(1);
  expect(await listVersionIds(h.s3.store, dataset)).toEqual(['v1']);
  const latest = await readLatest(h.s3.store, dataset);
  expect(latest!.version).toBe('v1');
  expect([...a, ...b][0]!.result.manifest.rowCount).toBe(archs.length);
});
