import { PROXIES } from '../src/core/names';
import { readBaseVersion } from '../src/producer/base';
import { readBuild } from '../src/queue/build';
import { redisKeys } from '../src/queue/names';
import type { Manifest } from '../src/storage/manifest';
import type { ObjectStore } from '../src/storage/objects';
import { resolveVersion } from '../src/storage/versions';
import { startHarness, type Harness } from './helpers/pipeline';

/**
 * The pipeline end to end on real Redis, a real S3 API (s3rver), real BullMQ workers and real
 * compute children. Small sizes: batch 8, a handful of NB201 cells.
 */
jest.setTimeout(600_000);

async function naslibJson(store: ObjectStore, m: Manifest, space: string): Promise<Record<string, Record<string, Record<string, unknown>>>> {
  const f = m.files[`zc_${space}.json`];
  if (!f) throw new Error(`no zc_${space}.json in ${m.version}`);
  return JSON.parse((await store.getVerified(f.sha256)).toString('utf8')) as Record<string, Record<string, Record<string, unknown>>>;
}

describe('pipeline', () => {
  let h: Harness;
  const dataset = `zct-e2e-${process.pid}`;

  beforeAll(async () => {
    h = await startHarness('e2e');
    h.startWorker({ pool: 'light' });
    h.startWorker({ pool: 'light' });
    h.startWorker({ pool: 'heavy' });
  });
  afterAll(async () => {
    await h?.close();
  });

  test('5 NB201 archs × 2 tasks × all proxies publish one version with 100 % coverage', async () => {
    const plan = h.plan({
      dataset,
      spaces: ['nasbench201'],
      tasks: ['cifar10', 'ImageNet16-120'],
      proxies: 'all',
      archs: { sample: 5, seed: 11 },
      batchSize: { default: 8 },
    });
    const archs = [...plan.spaces[0]!.archs.iterate()];
    const produced = await h.produce(plan);
    expect(produced).toMatchObject({ expected: 5 * 2 * 13, enqueuedMessages: 10 });

    const [published] = await h.aggregate([plan.buildId]);
    const m = published!.result.manifest;
    expect(m.version).toBe('v1');
    expect(m.rowCount).toBe(130);
    expect(m.coverage).toHaveLength(2 * 13);
    for (const c of m.coverage) expect(c).toMatchObject({ expected: 5, ok: 5, failed: 0 });
    expect(m.dataSources.length).toBeGreaterThan(0);
    for (const d of m.dataSources) expect(d.source).toBe('synthetic');

    const zc = await naslibJson(h.s3.store, m, 'nasbench201');
    expect(Object.keys(zc).sort()).toEqual(['ImageNet16-120', 'cifar10']);
    for (const task of ['cifar10', 'ImageNet16-120']) {
      expect(Object.keys(zc[task]!).sort()).toEqual([...archs].sort());
      for (const arch of archs) {
        const entry = zc[task]![arch]!;
        for (const proxy of PROXIES) expect(entry[proxy]).toEqual({ score: expect.any(Number), time: expect.any(Number) });
      }
    }
    // `latest` names it; the results stream is gone, the build record says where it went.
    expect((await resolveVersion(h.s3.store, dataset)).manifest.version).toBe('v1');
    expect(await h.redis.exists(redisKeys(h.prefix).results(plan.buildId))).toBe(0);
    expect(await readBuild(h.redis, h.prefix, plan.buildId)).toMatchObject({ state: 'published', version: 'v1', aggregated: 130 });
  });

  test('an incremental build adds zen to a 12-proxy version: only zen is computed, objects are reused', async () => {
    const ds = `${dataset}-inc`;
    const twelve = PROXIES.filter((p) => p !== 'zen');
    const spec = { dataset: ds, spaces: ['nasbench201'], tasks: ['cifar10'], archs: { sample: 3, seed: 5 }, batchSize: { default: 8 } };
    const basePlan = h.plan({ ...spec, proxies: twelve });
    await h.produce(basePlan);
    const [base] = await h.aggregate([basePlan.buildId]);
    const v1 = base!.result.manifest;
    expect(v1.rowCount).toBe(36);

    const before = h.workers.map((w) => ({ ...w.stats.byProxy }));
    const computedBefore = h.workers.reduce((n, w) => n + w.stats.jobsComputed, 0);
    const plan = h.plan({ ...spec, proxies: 'all', baseVersion: v1.version });
    const held = await readBaseVersion(h.s3.storeOpts, ds, v1.version);
    expect(held.tripleIds.size).toBe(36);
    const produced = await h.produce(plan, held);
    expect(produced).toMatchObject({ expected: 3, skippedBase: 36, enqueuedTriples: 3 });

    const [next] = await h.aggregate([plan.buildId]);
    const v2 = next!.result.manifest;
    // Exactly the 3 zen triples went through the workers: 3 jobs, nothing else.
    expect(h.workers.reduce((n, w) => n + w.stats.jobsComputed, 0) - computedBefore).toBe(3);
    const computed: Record<string, number> = {};
    h.workers.forEach((w, i) => {
      for (const [p, n] of Object.entries(w.stats.byProxy)) computed[p] = (computed[p] ?? 0) + n - (before[i]![p as keyof (typeof before)[number]] ?? 0);
    });
    expect(Object.fromEntries(Object.entries(computed).filter(([, n]) => n > 0))).toEqual({ zen: 3 });

    expect(v2).toMatchObject({ version: 'v2', parentVersion: 'v1', rowCount: 39 });
    expect(v2.coverage).toHaveLength(13);
    for (const c of v2.coverage) expect(c).toMatchObject({ expected: 3, ok: 3 });
    const zc = await naslibJson(h.s3.store, v2, 'nasbench201');
    for (const entry of Object.values(zc.cifar10!)) for (const p of PROXIES) expect(entry[p]).toBeDefined();
    // v1's Parquet part is carried into v2 by reference, not uploaded again.
    const v1Parts = Object.entries(v1.files).filter(([, f]) => f.kind === 'rows');
    expect(v1Parts.length).toBeGreaterThan(0);
    for (const [path, f] of v1Parts) expect(v2.files[path]?.sha256).toBe(f.sha256);
    expect(next!.result.reused).toBeGreaterThanOrEqual(v1Parts.length);
    expect(next!.result.uploaded).toBe(Object.keys(v2.files).length - v1Parts.length);
  });
});
