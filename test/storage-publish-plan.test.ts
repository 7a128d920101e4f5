import { serializeManifest } from '../src/storage/manifest';
import { sha256Of } from '../src/storage/objects';
import { decodeGroundTruthParquet, decodeRowsParquet, type StoredRow } from '../src/storage/parquet';
import { planVersion, type ExpectedCount, type ParentContent, type PlannedFile, type VersionPlan } from '../src/storage/publish-plan';
import type { GroundTruthRow, ResultRow } from '../src/storage/rows';
import { row } from './helpers/s3';

/** The version plan on in-memory inputs: no store, the parent's files decoded from earlier plans' bytes. */
const ARCHS = ['(0, 2, 3, 2, 3, 1)', '(4, 0, 4, 1, 2, 0)', '(1, 1, 1, 1, 1, 1)'];
const NB101_ARCH = '{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}';

/** Every object any plan produced, by sha256: the bytes a parent's kept files are read from. */
const objects = new Map<string, Uint8Array>();

function plan(
  version: string,
  rows: ResultRow[],
  opts: { parent?: ParentContent; groundTruth?: GroundTruthRow[]; expected?: ExpectedCount[] } = {},
): VersionPlan {
  const p = planVersion({
    dataset: 'demo',
    buildId: `b-${version}`,
    version,
    createdAt: '2026-12-02T00:00:00.000Z',
    parent: opts.parent ?? null,
    rows,
    groundTruth: opts.groundTruth,
    expected: opts.expected ?? [],
    provenance: { fingerprint: 'test', dataSources: [{ source: 'synthetic', sha256: 'ab'.repeat(32) }] },
  });
  for (const f of p.files) if (f.body) objects.set(f.entry.sha256, f.body);
  return p;
}

/** A planned version as the next plan's parent (what publish.ts loads from the store). */
async function asParent(p: VersionPlan): Promise<ParentContent> {
  const rows = new Map<string, StoredRow[]>();
  const groundTruth = new Map<string, GroundTruthRow[]>();
  for (const [path, f] of Object.entries(p.manifest.files)) {
    const bytes = objects.get(f.sha256)!;
    if (f.kind === 'rows') rows.set(path, await decodeRowsParquet(bytes, path));
    if (f.kind === 'ground_truth') groundTruth.set(path, await decodeGroundTruthParquet(bytes, path));
  }
  return { manifest: p.manifest, manifestSha256: sha256Of(serializeManifest(p.manifest)), rows, groundTruth };
}

const fileAt = (p: VersionPlan, path: string): PlannedFile | undefined => p.files.find((f) => f.path === path);
const rowsOf = (p: VersionPlan, path: string) => decodeRowsParquet(fileAt(p, path)!.body!, path);
const coverageOf = (p: VersionPlan, task: string, proxy: string, space = 'nasbench201') =>
  p.manifest.coverage.find((c) => c.space === space && c.task === task && c.proxy === proxy);

const failedSynflow = row({ arch: ARCHS[2]!, proxy: 'synflow', status: 'failed', reason: 'OOM: tensor too large' });
function v1(): VersionPlan {
  return plan(
    'v1',
    [
      ...ARCHS.map((arch, i) => row({ arch, proxy: 'params', score: i + 0.5 })),
      row({ arch: ARCHS[0]!, proxy: 'synflow', score: 41.9 }),
      row({ arch: ARCHS[1]!, proxy: 'synflow', score: 50.5 }),
      failedSynflow,
      row({ task: 'cifar100', arch: ARCHS[0]!, proxy: 'params', score: 0.62 }),
      row({ space: 'nasbench101', arch: NB101_ARCH, proxy: 'params', score: 2.1 }),
    ],
    {
      groundTruth: [{ space: 'nasbench201', task: 'cifar10', arch: ARCHS[0]!, valAccuracy: 86.06, origin: 'test' }],
      expected: [
        { space: 'nasbench201', task: 'cifar10', proxy: 'synflow', count: 4 },
        { space: 'nasbench201', task: 'cifar100', proxy: 'params', count: 1 },
      ],
    },
  );
}

describe('planVersion', () => {
  test('a first version: one part per (space, task), the ground truth, a NASLib file per space, coverage against expected', async () => {
    const p = v1();
    expect(Object.keys(p.manifest.files)).toEqual([
      'ground_truth/nasbench201.parquet',
      'parquet/nasbench101/cifar10/v1-0000.parquet',
      'parquet/nasbench201/cifar10/v1-0000.parquet',
      'parquet/nasbench201/cifar100/v1-0000.parquet',
      'zc_nasbench101.json',
      'zc_nasbench201.json',
    ]);
    for (const f of p.files) {
      expect(f.body).toBeDefined();
      expect(f.entry).toMatchObject({ sha256: sha256Of(f.body!), bytes: f.body!.length });
    }
    expect(p.manifest).toMatchObject({ version: 'v1', parentVersion: null, parentManifestSha256: null, rowCount: 8, createdAt: '2026-12-02T00:00:00.000Z' });
    expect(coverageOf(p, 'cifar10', 'synflow')).toEqual({
      space: 'nasbench201',
      task: 'cifar10',
      proxy: 'synflow',
      expected: 4,
      ok: 2,
      failed: 1,
      failedByReason: { 'OOM: tensor too large': 1 },
    });
    // Delivered without an expected count: expected is what was delivered.
    expect(coverageOf(p, 'cifar10', 'params')).toMatchObject({ expected: 3, ok: 3 });
    const stored = await rowsOf(p, 'parquet/nasbench201/cifar10/v1-0000.parquet');
    expect(stored.filter((r) => r.valAccuracy !== null).map((r) => [r.arch, r.valAccuracy])).toEqual([
      [ARCHS[0], 86.06],
      [ARCHS[0], 86.06],
    ]);
    // The same inputs plan the same bytes (a re-run reproduces its manifest).
    expect(serializeManifest(v1().manifest)).toBe(serializeManifest(p.manifest));
  });

  test('rows replacing parent rows: the part that held them is rewritten, an untouched part and space are kept by reference', async () => {
    const first = v1();
    const parent = await asParent(first);
    const retried = row({ arch: ARCHS[2]!, proxy: 'synflow', score: 0 }); // the failed triple's id
    const recomputed = { ...row({ arch: ARCHS[0]!, proxy: 'params', score: 9.5, tripleId: 'other-code' }), fingerprint: 'test2' }; // same slot, other code
    const p = plan('v2', [retried, recomputed, row({ task: 'cifar100', arch: ARCHS[0]!, proxy: 'synflow', score: 44.2 })], {
      parent,
      expected: [
        { space: 'nasbench201', task: 'cifar10', proxy: 'synflow', count: 1 },
        { space: 'nasbench201', task: 'cifar100', proxy: 'synflow', count: 2 },
      ],
    });
    expect(p.manifest).toMatchObject({ parentVersion: 'v1', parentManifestSha256: parent.manifestSha256, rowCount: 8 - 2 + 3 });
    // Kept by reference: no bytes, the parent's entry under the parent's path.
    const kept = p.files
      .filter((f) => !f.body)
      .map((f) => f.path)
      .sort();
    expect(kept).toEqual([
      'ground_truth/nasbench201.parquet',
      'parquet/nasbench101/cifar10/v1-0000.parquet',
      'parquet/nasbench201/cifar100/v1-0000.parquet',
      'zc_nasbench101.json',
    ]);
    for (const path of kept) expect(p.manifest.files[path]).toEqual(first.manifest.files[path]);
    expect(p.manifest.files['parquet/nasbench201/cifar10/v1-0000.parquet']).toBeUndefined();
    // Rewritten without the replaced rows; this build's rows in a part of their own.
    const rewritten = await rowsOf(p, 'parquet/nasbench201/cifar10/v2-0000.parquet');
    expect(rewritten.map((r) => r.tripleId)).not.toContain(failedSynflow.tripleId);
    expect(rewritten.filter((r) => r.arch === ARCHS[0] && r.proxy === 'params')).toEqual([]);
    expect(rewritten).toHaveLength(4);
    const added = await rowsOf(p, 'parquet/nasbench201/cifar10/v2-0001.parquet');
    expect(added.map((r) => [r.tripleId, r.status, r.valAccuracy])).toEqual([
      [retried.tripleId, 'ok', null],
      ['other-code', 'ok', 86.06],
    ]);
    expect((await rowsOf(p, 'parquet/nasbench201/cifar100/v2-0000.parquet')).map((r) => r.score)).toEqual([44.2]);
    // The retried cell was expected by the parent already: counted once; a cell expected but not delivered stays expected.
    expect(coverageOf(p, 'cifar10', 'synflow')).toEqual({
      space: 'nasbench201',
      task: 'cifar10',
      proxy: 'synflow',
      expected: 4,
      ok: 3,
      failed: 0,
      failedByReason: {},
    });
    expect(coverageOf(p, 'cifar100', 'synflow')).toMatchObject({ expected: 2, ok: 1, failed: 0 });
    expect(p.manifest.coverage.filter((c) => c.space === 'nasbench101')).toEqual(first.manifest.coverage.filter((c) => c.space === 'nasbench101'));
    expect(p.manifest.rowFingerprints).toEqual(['test', 'test2']);
  });

  test('ground truth: a changed task rewrites its parts with the new accuracy; the same truth again changes no file', async () => {
    const parent = await asParent(v1());
    const truth: GroundTruthRow = { space: 'nasbench201', task: 'cifar100', arch: ARCHS[0]!, valAccuracy: 70.1, origin: 'test' };
    const p = plan('v2', [], { parent, groundTruth: [truth] });
    const rewritten = p.files.filter((f) => f.body).map((f) => f.path);
    expect(rewritten).toEqual(['ground_truth/nasbench201.parquet', 'parquet/nasbench201/cifar100/v2-0000.parquet', 'zc_nasbench201.json']);
    expect(p.manifest.files['ground_truth/nasbench201.parquet']!.rows).toBe(2);
    expect((await rowsOf(p, 'parquet/nasbench201/cifar100/v2-0000.parquet')).map((r) => r.valAccuracy)).toEqual([70.1]);
    expect(fileAt(p, 'parquet/nasbench201/cifar10/v1-0000.parquet')!.body).toBeUndefined();
    expect(coverageOf(p, 'cifar100', 'params')).toEqual(coverageOf(v1(), 'cifar100', 'params'));

    const again = plan('v3', [], { parent: await asParent(p), groundTruth: [truth] });
    for (const f of again.files) {
      if (f.entry.kind === 'naslib')
        expect(f.entry.sha256).toBe(p.manifest.files[f.path]!.sha256); // regenerated, same bytes
      else expect(f.body).toBeUndefined();
    }
    expect(again.manifest.files).toEqual(p.manifest.files);
  });
});

describe('az_nas, derived at publish time over the population', () => {
  const PARTS = ['az_nas.expressivity', 'az_nas.progressivity', 'az_nas.trainability', 'az_nas.complexity'] as const;
  // arch i's part k: chosen so the ranks differ per part.
  const value = (i: number, k: number) =>
    [
      [1, 3, 2],
      [2, 1, 3],
      [3, 2, 1],
      [1, 2, 3],
    ][k]![i]!;
  const partRows = (archs: readonly string[]) => archs.flatMap((arch, i) => PARTS.map((proxy, k) => row({ arch, proxy, score: value(i, k) })));
  const azOf = async (p: VersionPlan) => {
    const out: StoredRow[] = [];
    for (const [path, f] of Object.entries(p.manifest.files))
      if (f.kind === 'rows' && f.task === 'cifar10') out.push(...(await rowsOf(p, path)).filter((r) => r.proxy === 'az_nas'));
    return new Map(out.map((r) => [r.arch, r.score]));
  };

  it('is Σ ln(rank/L) over the four parts of the version rows, and is recomputed when the population grows', async () => {
    const first = plan('a1', partRows(ARCHS.slice(0, 2)));
    const a1 = await azOf(first);
    // Two archs: arch 0 ranks (1, 2, 2, 1), arch 1 ranks (2, 1, 1, 2).
    expect(a1.get(ARCHS[0]!)).toBeCloseTo(2 * Math.log(1 / 2) + 2 * Math.log(2 / 2), 12);
    expect(a1.get(ARCHS[1]!)).toBeCloseTo(2 * Math.log(2 / 2) + 2 * Math.log(1 / 2), 12);
    const second = plan('a2', partRows(ARCHS).slice(8), { parent: await asParent(first) });
    const a2 = await azOf(second);
    expect(a2.size).toBe(3);
    // arch 2 ranks (2, 3, 1, 3) of 3.
    expect(a2.get(ARCHS[2]!)).toBeCloseTo(Math.log(2 / 3) + Math.log(3 / 3) + Math.log(1 / 3) + Math.log(3 / 3), 12);
    expect(a2.get(ARCHS[0]!)).toBeCloseTo(Math.log(1 / 3) + Math.log(3 / 3) + Math.log(2 / 3) + Math.log(1 / 3), 12);
    expect(coverageOf(second, 'cifar10', 'az_nas')).toMatchObject({ ok: 3, failed: 0 });
  });

  it('leaves out an architecture missing a part', async () => {
    const p = plan(
      'a3',
      partRows(ARCHS).filter((r) => !(r.arch === ARCHS[2] && r.proxy === 'az_nas.complexity')),
    );
    expect([...(await azOf(p)).keys()].sort()).toEqual(ARCHS.slice(0, 2).sort());
  });
});

describe('seeds in the NASLib file', () => {
  it('a cell under three seeds: score = the mean, std = the sample standard deviation, n, seeds and scores beside them', () => {
    const scores: Record<number, number[]> = { 0: [1.5, 2.25, 4.0], 1: [10, 10, 10] };
    const rows = ARCHS.slice(0, 2).flatMap((arch, a) => [2, 0, 1].map((seed) => row({ arch, proxy: 'snip', seed, score: scores[a]![seed]!, time: seed + 1 })));
    // A one-seed cell stays as before.
    rows.push(row({ arch: ARCHS[2]!, proxy: 'snip', score: 7 }));
    const json = JSON.parse(Buffer.from(fileAt(plan('s1', rows), 'zc_nasbench201.json')!.body!).toString('utf8'));
    // Independent: mean and sample variance by hand.
    const [x0, x1, x2] = scores[0]!;
    const mean = (x0! + x1! + x2!) / 3;
    const std = Math.sqrt(((x0! - mean) ** 2 + (x1! - mean) ** 2 + (x2! - mean) ** 2) / 2);
    expect(json.cifar10[ARCHS[0]!].snip.score).toBeCloseTo(mean, 12);
    expect(json.cifar10[ARCHS[0]!].snip.std).toBeCloseTo(std, 12);
    expect(json.cifar10[ARCHS[0]!].snip).toMatchObject({ n: 3, seeds: [0, 1, 2], scores: [1.5, 2.25, 4.0], time: 2 });
    expect(json.cifar10[ARCHS[1]!].snip).toMatchObject({ score: 10, std: 0, n: 3 });
    expect(json.cifar10[ARCHS[2]!].snip).toEqual({ score: 7, time: 0.25 });
  });
});
