import { readBaseVersion } from '../src/producer/base';
import { openQueue, type ComputeQueue } from '../src/queue/queues';
import { localFingerprint } from '../src/version';
import { startHarness, type Harness } from './helpers/pipeline';

/** Issue 13 item 3: job ids are unique per build, so a repair build of failed triples is not answered with the old failed jobs. */
jest.setTimeout(120_000);

let h: Harness;
let light: ComputeQueue;
beforeAll(async () => {
  h = await startHarness('repair');
  light = openQueue('light', h.redis, h.prefix);
});
afterAll(async () => {
  await light?.close();
  await h?.close();
});

test('a repair build of failed triples gets jobs of its own, and they run', async () => {
  const dataset = `zct-repair-${process.pid}`;
  const spec = { dataset, spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params', 'flops'], archs: ['(0, 2, 3, 2, 3, 1)', '(1, 2, 0, 3, 2, 4)'] };
  // The first build's jobs fail: a worker of other code refuses them; BullMQ keeps failed jobs a week.
  const other = localFingerprint(localFingerprint().backend === 'cpu' ? 'wasm' : 'cpu').id;
  const refusing = h.startWorker({ pool: 'light', fingerprint: other });
  const first = h.plan({ ...spec, buildId: `${dataset}-first` });
  await h.produce(first);
  const [v1] = await h.aggregate([first.buildId]);
  expect(v1!.result.manifest.coverage.map((c) => [c.proxy, c.ok, c.failed])).toEqual([
    ['flops', 0, 2],
    ['params', 0, 2],
  ]);
  await refusing.close();
  h.workers.splice(h.workers.indexOf(refusing), 1);
  const failed = await light.getFailed();
  expect(failed.map((j) => j.data.buildId)).toEqual([first.buildId]);

  // The repair: the same triples on top of v1 (whose rows for them are failed, so none is skipped).
  const repair = h.plan({ ...spec, buildId: `${dataset}-repair`, baseVersion: 'v1' });
  const base = await readBaseVersion(h.s3.storeOpts, dataset, 'v1');
  expect(await h.produce(repair, base)).toMatchObject({ expected: 4, skippedBase: 0, enqueuedMessages: 1 });
  const waiting = await light.getWaiting();
  expect(waiting.map((j) => j.data.buildId)).toEqual([repair.buildId]);
  expect(waiting[0]!.id).not.toBe(failed[0]!.id);
  // Producing the repair build again is still a no-op.
  expect(await h.produce(repair, base)).toMatchObject({ enqueuedMessages: 0, alreadyEnqueued: 1 });

  h.startWorker({ pool: 'light' });
  const [v2] = await h.aggregate([repair.buildId]);
  expect(v2!.result.manifest).toMatchObject({ version: 'v2', parentVersion: 'v1' });
  expect(v2!.result.manifest.coverage.map((c) => [c.proxy, c.ok, c.failed])).toEqual([
    ['flops', 2, 0],
    ['params', 2, 0],
  ]);
});
