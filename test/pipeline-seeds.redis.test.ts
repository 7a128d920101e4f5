import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtemp, readFile, rm } from 'fs/promises';
import { tmpdir } from 'os';
import { join } from 'path';
import { runCli } from './helpers/cli';
import { cliEnv } from './helpers/s3';
import { startHarness, type Harness } from './helpers/pipeline';

/**
 * A 3-seed build of 5 NB201 cells through the real pipeline (BullMQ on Redis, a worker, the
 * aggregator, s3rver): every seed's row is published; the NASLib json's score is the mean over
 * seeds with std (n − 1), n, seeds and scores beside it; query prints mean ± sd; report writes the
 * seed-to-seed stability table. Checked against values computed here from the pulled rows.
 */
jest.setTimeout(300_000);

let h: Harness;
let work: string;
beforeAll(async () => {
  h = await startHarness('seeds');
  h.startWorker({ pool: 'light', concurrency: 2 });
  work = await mkdtemp(join(tmpdir(), 'zc-seeds-'));
});
afterAll(async () => {
  await h?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

test('three seeds: rows per seed, mean/std/n in the NASLib json, mean ± sd in query, stability in report', async () => {
  const ds = `zct-seeds-${process.pid}`;
  // l2_norm depends on the seeded weights only: cheap, and different under every seed.
  const plan = h.plan({ dataset: ds, spaces: ['nasbench201'], tasks: ['cifar10'], archs: { sample: 5, seed: 4 }, proxies: ['l2_norm'], seeds: [0, 1, 2] });
  expect(plan.totalTriples).toBe(15);
  await h.produce(plan);
  await h.aggregate([plan.buildId]);

  const env = cliEnv(h.s3.embedded, join(work, 'home'));
  const out = join(work, 'pulled');
  const pulled = await runCli(['pull', ds, '--out', out, '--format', 'both'], { env });
  expect(pulled.stderr).toBe('');
  expect(pulled.code).toBe(0);
  const json = JSON.parse(await readFile(join(out, 'zc_nasbench201.json'), 'utf8'));
  const archs = Object.keys(json.cifar10);
  expect(archs).toHaveLength(5);

  // Each seed's score, from the per-seed rows (query --json gives them with the summary).
  const bySeed: number[][] = [[], [], []];
  for (const arch of archs) {
    const q = await runCli(['query', ds, '--space', 'nasbench201', '--task', 'cifar10', '--arch', arch, '--json'], { env });
    expect(q.code).toBe(0);
    const cell = JSON.parse(q.stdout).proxies.l2_norm;
    expect(cell.seeds).toEqual([0, 1, 2]);
    const x = cell.scores as number[];
    expect(new Set(x).size).toBe(3); // the seeds really differ
    const mean = (x[0]! + x[1]! + x[2]!) / 3;
    const std = Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / 2);
    const entry = json.cifar10[arch].l2_norm;
    expect(entry.score).toBeCloseTo(mean, 10);
    expect(entry.std).toBeCloseTo(std, 10);
    expect(entry).toMatchObject({ n: 3, seeds: [0, 1, 2], scores: x });
    expect(cell.score).toBeCloseTo(mean, 10);
    x.forEach((v, seed) => bySeed[seed]!.push(v));
  }
  // The wide table (read with DuckDB, not our reader) is the seeds' summary: mean, std, n.
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const wide = (
      await conn.runAndReadAll(
        `SELECT arch, l2_norm, l2_norm_std, l2_norm_n FROM read_parquet('${join(out, 'data', 'wide', 'nasbench201', 'cifar10.parquet')}')`,
      )
    ).getRowObjectsJS();
    expect(wide).toHaveLength(5);
    for (const w of wide) {
      const entry = json.cifar10[w.arch as string].l2_norm;
      expect(w.l2_norm).toBeCloseTo(entry.score, 12);
      expect(w.l2_norm_std).toBeCloseTo(entry.std, 12);
      expect(w.l2_norm_n).toBe(3);
    }
  } finally {
    conn.closeSync();
  }

  const text = await runCli(['query', ds, '--space', 'nasbench201', '--task', 'cifar10', '--arch', archs[0]!], { env });
  expect(text.stdout).toMatch(/l2_norm\s+\S+ ± \S+ \(3 seeds\)/);

  const reportDir = join(work, 'report');
  const report = await runCli(['report', ds, '--out', reportDir], { env });
  expect(report.code).toBe(0);
  const stability = (await readFile(join(reportDir, 'seed_stability.csv'), 'utf8')).trim().split('\n');
  expect(stability[0]).toBe('space,task,proxy,seeds,architectures,seed_pairs,mean_spearman');
  const [space, task, proxy, seeds, n, pairs, rho] = stability[1]!.split(',');
  expect([space, task, proxy, seeds, n, pairs]).toEqual(['nasbench201', 'cifar10', 'l2_norm', '0 1 2', '5', '3']);
  // Independent: ranks (the scores have no ties), Spearman = 1 − 6Σd²/(n(n²−1)), averaged over the 3 seed pairs.
  const ranks = (v: number[]) => v.map((a) => v.filter((b) => b < a).length + 1);
  const rhoOf = (a: number[], b: number[]) => {
    const ra = ranks(a);
    const rb = ranks(b);
    const d2 = ra.reduce((acc, r, i) => acc + (r - rb[i]!) ** 2, 0);
    return 1 - (6 * d2) / (a.length * (a.length ** 2 - 1));
  };
  const expected = (rhoOf(bySeed[0]!, bySeed[1]!) + rhoOf(bySeed[0]!, bySeed[2]!) + rhoOf(bySeed[1]!, bySeed[2]!)) / 3;
  expect(Number(rho)).toBeCloseTo(expected, 12);
  expect(await readFile(join(reportDir, 'report.md'), 'utf8')).toContain('## Seed-to-seed rank stability');
});
