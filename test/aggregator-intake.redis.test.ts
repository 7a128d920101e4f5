import { createBuild, markEnqueued, readBuild, readFailures } from '../src/queue/build';
import { tripleId } from '../src/queue/ids';
import { redisKeys } from '../src/queue/names';
import { writeRows } from '../src/queue/results';
import { openDataset } from '../src/storage/dataset';
import type { ResultRow } from '../src/storage/rows';
import { localFingerprint } from '../src/version';
import { startHarness, type Harness } from './helpers/pipeline';

/** Issue 13 item 8: rows are validated at intake; one bad row never stops a publish, and its triple is recorded as failed. */
jest.setTimeout(120_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness('intake');
});
afterAll(async () => {
  await h?.close();
});

test('a row with an extra field becomes a failed row naming the field; an unparsable entry is counted; the build publishes', async () => {
  const buildId = `zct-intake-${process.pid}`;
  const dataset = buildId;
  const fingerprint = localFingerprint().id;
  const archs = ['(0, 1, 2, 3, 4, 0)', '(1, 1, 1, 1, 1, 1)', '(2, 2, 2, 2, 2, 2)'];
  const rows: ResultRow[] = archs.map((arch, i) => ({
    tripleId: tripleId({ dataset, space: 'nasbench201', task: 'cifar10', arch, proxy: 'params', seed: 0, batchSize: 64, fingerprint, data: 'none' }),
    space: 'nasbench201',
    task: 'cifar10',
    arch,
    proxy: 'params',
    seed: 0,
    batchSize: 64,
    status: 'ok',
    score: 0.5 + i,
    time: 0.01,
    backend: 'wasm',
    dataSource: 'synthetic',
    dataSha256: '',
    fingerprint,
  }));
  await createBuild(h.redis, h.prefix, { buildId, dataset, spec: '{}', fingerprint, reuse: 'same-code' });
  await markEnqueued(h.redis, h.prefix, buildId, [{ space: 'nasbench201', task: 'cifar10', proxy: 'params', count: archs.length }]);
  const malformed = { ...rows[2]!, colour: 'blue' } as ResultRow;
  await writeRows(h.redis, h.prefix, buildId, [rows[0]!, malformed, rows[1]!]);
  await h.redis.xadd(redisKeys(h.prefix).results(buildId), '*', 'row', '{"tripleId": "cut off');

  const [published] = await h.aggregate([buildId]);
  const manifest = published!.result.manifest;
  expect(manifest.rowCount).toBe(3);
  expect(manifest.coverage).toHaveLength(1);
  expect(manifest.coverage[0]).toMatchObject({ expected: 3, ok: 2, failed: 1 });
  const ds = await openDataset(`s3://${h.s3.storeOpts.bucket}/${dataset}`, manifest.version, h.s3.storeOpts);
  const byId = new Map(ds.filter({}).map((r) => [r.tripleId, r]));
  expect(byId.get(rows[0]!.tripleId)).toMatchObject({ status: 'ok', score: 0.5 });
  expect(byId.get(rows[1]!.tripleId)).toMatchObject({ status: 'ok', score: 1.5 });
  const bad = byId.get(rows[2]!.tripleId)!;
  expect(bad).toMatchObject({ status: 'failed', score: null, arch: archs[2] });
  expect(bad.reason).toContain('"colour"');

  expect((await readBuild(h.redis, h.prefix, buildId)).rejectedEntries).toBe(2);
  const reasons = Object.keys(await readFailures(h.redis, h.prefix, buildId));
  expect(reasons.some((r) => r.startsWith('not JSON'))).toBe(true);
  expect(reasons.some((r) => r.includes('"colour"'))).toBe(true);
});
