import { Aggregator } from '../src/aggregator/aggregator';
import { readSegments, segmentsPrefix } from '../src/aggregator/segments';
import { createBuild, markEnqueued } from '../src/queue/build';
import { tripleId } from '../src/queue/ids';
import { writeRows } from '../src/queue/results';
import { openDataset } from '../src/storage/dataset';
import type { ResultRow } from '../src/storage/rows';
import { localFingerprint } from '../src/version';
import { startHarness, until, type Harness } from './helpers/pipeline';

/** Issue 13 item 10: a build's segments are compacted as they accumulate; nothing is lost by it. */
jest.setTimeout(120_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness('compaction');
});
afterAll(async () => {
  await h?.close();
});

test('rows arriving over many flushes end in a few segments, and the version holds every row', async () => {
  const buildId = `zct-compaction-${process.pid}`;
  const dataset = buildId;
  const fingerprint = localFingerprint().id;
  const archs = [
    '(0, 1, 2, 3, 4, 0)',
    '(1, 1, 1, 1, 1, 1)',
    '(2, 2, 2, 2, 2, 2)',
    '(3, 3, 3, 3, 3, 3)',
    '(4, 4, 4, 4, 4, 4)',
    '(0, 0, 0, 0, 0, 0)',
    '(1, 2, 3, 4, 0, 1)',
    '(4, 3, 2, 1, 0, 4)',
  ];
  const rows: ResultRow[] = archs.map((arch, i) => ({
    tripleId: tripleId({ dataset, space: 'nasbench201', task: 'cifar10', arch, proxy: 'params', seed: 0, batchSize: 64, fingerprint, data: 'none' }),
    space: 'nasbench201',
    task: 'cifar10',
    arch,
    proxy: 'params',
    seed: 0,
    batchSize: 64,
    status: 'ok',
    score: 0.25 + i,
    time: 0.01,
    backend: 'wasm',
    dataSource: 'none',
    dataSha256: '',
    fingerprint,
  }));
  await createBuild(h.redis, h.prefix, { buildId, dataset, spec: '{}', fingerprint, reuse: 'same-code' });
  await markEnqueued(h.redis, h.prefix, buildId, [{ space: 'nasbench201', task: 'cifar10', proxy: 'params', count: rows.length }]);
  const aggregator = new Aggregator({
    redis: h.redis,
    prefix: h.prefix,
    store: h.s3.store,
    log: h.log,
    buildIds: [buildId],
    untilPublished: true,
    flushIntervalMs: 20,
    compactAt: 3,
  });
  const running = aggregator.run();
  // One row per flush: without compaction, eight segments.
  for (const [i, row] of rows.entries()) {
    await writeRows(h.redis, h.prefix, buildId, [row]);
    await until(`row ${i + 1} in a segment`, async () =>
      (await readSegments(h.s3.store, buildId)).rows.some((r) => r.tripleId === row.tripleId) ? true : undefined,
    );
  }
  const [published] = await running;
  const { keys } = await h.s3.store.list(segmentsPrefix(buildId));
  expect(keys.length).toBeLessThan(3);
  expect(new Set((await readSegments(h.s3.store, buildId)).rows.map((r) => r.tripleId))).toEqual(new Set(rows.map((r) => r.tripleId)));
  const ds = await openDataset(`s3://${h.s3.storeOpts.bucket}/${dataset}`, published!.result.manifest.version, h.s3.storeOpts);
  expect(
    ds
      .filter({})
      .map((r) => [r.arch, r.score])
      .sort(),
  ).toEqual(rows.map((r) => [r.arch, r.score]).sort());
});
