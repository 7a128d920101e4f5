import { Aggregator } from '../src/aggregator/aggregator';
import { listBuildIds, readBuild } from '../src/queue/build';
import { listDatasets } from '../src/storage/versions';
import { startHarness, type Harness } from './helpers/pipeline';

/** Issue 13 item 4: every key under ZC_QUEUE_PREFIX: two deployments on one Redis never see each other's builds. */
jest.setTimeout(120_000);

let a: Harness;
let b: Harness;
beforeAll(async () => {
  // Same Redis, each its own prefix and its own bucket (an s3rver each).
  a = await startHarness('prefix-a');
  b = await startHarness('prefix-b');
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

/** Run a deployment's aggregator over whatever builds it discovers, until its own build is published. */
async function aggregateUntilPublished(h: Harness, buildId: string): Promise<void> {
  const aggregator = new Aggregator({ redis: h.redis, prefix: h.prefix, store: h.s3.store, log: h.log, flushIntervalMs: 100 });
  const running = aggregator.run();
  while ((await readBuild(h.redis, h.prefix, buildId)).state !== 'published') await new Promise((r) => setTimeout(r, 100));
  aggregator.stop();
  await running;
}

async function rowsWritten(h: Harness, buildId: string, n: number): Promise<void> {
  while ((await readBuild(h.redis, h.prefix, buildId)).rowsOk < n) await new Promise((r) => setTimeout(r, 100));
}

test('two prefixes on one Redis: each aggregator publishes its own build only, into its own bucket', async () => {
  const spec = (dataset: string) => ({
    dataset,
    spaces: ['nasbench201'],
    tasks: ['cifar10'],
    proxies: ['params'],
    archs: ['(0, 2, 3, 2, 3, 1)', '(1, 2, 0, 3, 2, 4)'],
  });
  const planA = a.plan(spec(`zct-prefix-a-${process.pid}`));
  const planB = b.plan(spec(`zct-prefix-b-${process.pid}`));
  await a.produce(planA);
  await b.produce(planB);
  a.startWorker({ pool: 'light' });
  b.startWorker({ pool: 'light' });
  // Both builds are complete in Redis before either aggregator starts: nothing but the keys keeps them apart.
  await rowsWritten(a, planA.buildId, 2);
  await rowsWritten(b, planB.buildId, 2);
  expect(await listBuildIds(a.redis, a.prefix)).toEqual([planA.buildId]);
  expect(await listBuildIds(b.redis, b.prefix)).toEqual([planB.buildId]);

  await aggregateUntilPublished(a, planA.buildId);
  expect(await listDatasets(a.s3.store)).toEqual([planA.spec.dataset]);
  expect((await readBuild(b.redis, b.prefix, planB.buildId)).state).toBe('enqueued');

  await aggregateUntilPublished(b, planB.buildId);
  expect(await listDatasets(b.s3.store)).toEqual([planB.spec.dataset]);
  expect(await listDatasets(a.s3.store)).toEqual([planA.spec.dataset]);
});
