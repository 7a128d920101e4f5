import { mkdtemp, readFile, readdir, rm } from 'fs/promises';
import { tmpdir } from 'os';
import { join } from 'path';
import { PNG } from 'pngjs';
import { Rng } from '../src/core/rng';
import type { ProxyName, SpaceName, TaskName } from '../src/core/names';
import { InputError } from '../src/errors';
import { analyse, orderByMean } from '../src/report/analyses';
import { biasCsv, createReport, reportMarkdown, spearmanCsv, writeReport } from '../src/report/report';
import { finiteMean } from '../src/report/stats';
import { buildTaskScores } from '../src/report/table';
import type { GroundTruthRow, ResultRow } from '../src/storage/rows';
import { referencePandasPearson, referencePearson, referenceSpearman } from './helpers/report-reference';

/**
 * Synthetic rows shaped like a dataset: NB201 (two tasks) and NB301 archs, accuracies that depend
 * on the ops, proxies with ties, −1e8 sentinels, -inf, failed triples, a second seed that must not be
 * used, and rows of architectures without ground truth.
 */
const PROXIES_USED: ProxyName[] = ['jacov', 'params', 'snip', 'synflow'];

function makeRows() {
  const rng = new Rng('report-analyses');
  const results: ResultRow[] = [];
  const truth: GroundTruthRow[] = [];
  const row = (space: SpaceName, task: TaskName, arch: string, proxy: ProxyName, seed: number, score: number | null): ResultRow => ({
    tripleId: `${space}/${task}/${arch}/${proxy}/${seed}`,
    space,
    task,
    arch,
    proxy,
    seed,
    batchSize: 64,
    status: score === null ? 'failed' : 'ok',
    score,
    time: score === null ? null : 0.1,
    ...(score === null ? { reason: 'out of memory' } : {}),
    backend: 'cpu',
    dataSource: 'synthetic',
    dataSha256: '0'.repeat(64),
    fingerprint: 'test',
  });
  const addArch = (space: SpaceName, task: TaskName, arch: string, ops: number[], convOps: number[], withTruth: boolean) => {
    const conv = ops.filter((o) => convOps.includes(o)).length;
    const acc = Math.round((70 + 3 * conv + 4 * rng.normal()) * 100) / 100;
    if (withTruth) truth.push({ space, task, arch, valAccuracy: acc, origin: 'test' });
    const u = rng.float();
    results.push(row(space, task, arch, 'jacov', 0, u < 0.02 ? -Infinity : u < 0.05 ? -1e8 : Math.round(acc / 5 + rng.normal()))); // ties, sentinels, -inf
    results.push(row(space, task, arch, 'params', 0, 0.1 + 0.3 * conv));
    results.push(row(space, task, arch, 'snip', 0, u > 0.9 ? null : acc + 10 * rng.normal())); // failed triples
    results.push(row(space, task, arch, 'synflow', 0, conv * 5 + rng.normal()));
    results.push(row(space, task, arch, 'synflow', 1, -1e8)); // another seed: must be ignored
  };
  const nb201 = new Set<string>();
  while (nb201.size < 260) nb201.add(`(${Array.from({ length: 6 }, () => rng.int(5)).join(', ')})`);
  for (const task of ['cifar10', 'cifar100'] as TaskName[]) {
    [...nb201].forEach((arch, i) => addArch('nasbench201', task, arch, arch.match(/\d/g)!.map(Number), [2, 3], i < 240));
  }
  for (let k = 0; k < 150; k++) {
    const cell = () => `[${Array.from({ length: 8 }, (_, j) => `(${rng.int(2 + Math.floor(j / 2))}, ${rng.int(7)})`).join(', ')}]`;
    const arch = `[${cell()}, ${cell()}]`;
    const ops = [...arch.matchAll(/\(\d+, (\d)\)/g)].map((m) => Number(m[1]));
    addArch('nasbench301', 'cifar10', arch, ops, [3, 4, 5, 6], true);
  }
  return { results, truth };
}

const { results, truth } = makeRows();

/** The test's own view of the data: seed-0 ok scores per (space, task) aligned with the ground truth. */
function referenceColumns(space: SpaceName, task: TaskName) {
  const gt = truth.filter((t) => t.space === space && t.task === task);
  const score = new Map<string, number>();
  for (const r of results) if (r.space === space && r.task === task && r.seed === 0 && r.status === 'ok') score.set(`${r.arch}|${r.proxy}`, r.score!);
  const column = (proxy: string) => gt.map((t) => score.get(`${t.arch}|${proxy}`) ?? null);
  return { gt, acc: gt.map((t) => t.valAccuracy), column };
}

describe('analyses over rows', () => {
  const { tasks, counts } = buildTaskScores(results, truth);
  const a = analyse(tasks);

  it('builds one table per (space, task) with ground truth, in the paper order', () => {
    expect(tasks.map((t) => `${t.space}/${t.task}`)).toEqual(['nasbench201/cifar10', 'nasbench201/cifar100', 'nasbench301/cifar10']);
    expect(tasks.map((t) => t.archs.length)).toEqual([240, 240, 150]);
    expect(counts.failedRows).toBe(results.filter((r) => r.status === 'failed').length);
    expect(counts.supersededRows).toBe(260 * 2 + 150); // the seed-1 synflow rows
    expect(counts.rowsWithoutGroundTruth).toBe(
      20 * 2 * 4 - results.filter((r) => r.status === 'failed' && !truth.some((t) => t.arch === r.arch && t.task === r.task)).length,
    );
  });

  it('uses the smallest seed of a triple; a repeated triple id (a retry) replaces the earlier row', () => {
    const base = results.find((r) => r.proxy === 'snip' && r.status === 'ok' && truth.some((t) => t.arch === r.arch && t.task === r.task))!;
    const other = { ...base, tripleId: `${base.tripleId}/b`, seed: base.seed + 1, score: 1234 };
    const retry = { ...base, score: 5678 };
    const one = buildTaskScores([base, other, retry], truth).tasks.find((t) => t.task === base.task && t.space === base.space)!;
    expect(one.scores.get('snip')![one.archs.indexOf(base.arch)]).toBe(5678);
    const reversed = buildTaskScores([other, base], truth).tasks.find((t) => t.task === base.task && t.space === base.space)!;
    expect(reversed.scores.get('snip')![reversed.archs.indexOf(base.arch)]).toBe(base.score);
  });

  it("user modules' columns join Figure 2 after the built-ins, by name", () => {
    const cifar = truth.filter((t) => t.space === 'nasbench201' && t.task === 'cifar10');
    const moduleRows = (proxy: string, sign: number): ResultRow[] =>
      cifar.map((t, i) => ({
        ...results[0]!,
        tripleId: `${proxy}-${i}`,
        space: t.space,
        task: t.task,
        arch: t.arch,
        proxy,
        status: 'ok',
        score: sign * t.valAccuracy,
      }));
    const withModules = analyse(buildTaskScores([...results, ...moduleRows('zz_mod', 1), ...moduleRows('aa_mod', -1)], truth).tasks);
    expect(withModules.spearman.proxies).toEqual([...PROXIES_USED, 'aa_mod', 'zz_mod']);
    const j = withModules.spearman.tasks.findIndex((t) => t.space === 'nasbench201' && t.task === 'cifar10');
    const row = (p: string) => withModules.spearman.values[withModules.spearman.proxies.indexOf(p)]!;
    expect([row('zz_mod')[j]!.value, row('aa_mod')[j]!.value]).toEqual([1, -1]);
    expect(row('zz_mod')[j]!.n).toBe(cifar.length);
    expect(Number.isNaN(row('zz_mod')[withModules.spearman.tasks.findIndex((t) => t.task === 'cifar100')]!.value)).toBe(true);
  });

  it('Spearman per proxy and task equals the independent reference to 1e-9', () => {
    expect(a.spearman.proxies).toEqual(PROXIES_USED);
    a.spearman.tasks.forEach((t, j) => {
      const ref = referenceColumns(t.space, t.task);
      a.spearman.proxies.forEach((proxy, i) => {
        const want = referenceSpearman(ref.column(proxy), ref.acc);
        const got = a.spearman.values[i]![j]!;
        expect(got.n).toBe(want.n);
        expect(Math.abs(got.value - want.value)).toBeLessThan(1e-9);
      });
    });
  });

  it('orders the heatmap rows and columns by ascending mean', () => {
    const m = a.spearmanMatrix;
    const rowMeans = m.values.map((row) => finiteMean(row.map((c) => c.value)));
    const colMeans = m.colLabels.map((_, j) => finiteMean(m.values.map((row) => row[j]!.value)));
    for (let i = 1; i < rowMeans.length; i++) expect(rowMeans[i]!).toBeGreaterThanOrEqual(rowMeans[i - 1]!);
    for (let j = 1; j < colMeans.length; j++) expect(colMeans[j]!).toBeGreaterThanOrEqual(colMeans[j - 1]!);
    expect([...m.rowLabels].sort()).toEqual([...PROXIES_USED].sort());
    expect(orderByMean([[{ value: NaN, n: 0 }], [{ value: -0.5, n: 9 }], [{ value: 0.2, n: 9 }]]).rows).toEqual([1, 2, 0]);
  });

  it('correlates tasks by their per-proxy Spearman vectors', () => {
    const col = (j: number) => a.spearman.values.map((row) => row[j]!.value);
    expect(a.taskCorrelation.rowLabels).toEqual(['NB201-CF10', 'NB201-CF100', 'NB301-CF10']);
    for (let x = 0; x < 3; x++) {
      for (let y = 0; y < 3; y++) {
        const want = referencePearson(col(x), col(y));
        expect(Math.abs(a.taskCorrelation.values[x]![y]!.value - want)).toBeLessThan(1e-9);
        expect(a.taskCorrelation.values[x]![y]!.n).toBe(4);
      }
    }
  });

  it('names the proxy with the highest Spearman per task', () => {
    a.best.forEach((b, j) => {
      const values = a.spearman.values.map((row) => row[j]!.value);
      expect(b.spearman.value).toBe(Math.max(...values));
      expect(b.proxy).toBe(a.spearman.proxies[values.indexOf(Math.max(...values))]);
    });
  });

  it('bias table: Pearson of each proxy with conv:pool, cell size, skips and params', () => {
    expect(a.bias.map((b) => b.task.label)).toEqual(['NB201-CF10', 'NB201-CF100', 'NB301-CF10']);
    for (const b of a.bias) {
      const ref = referenceColumns(b.task.space, b.task.task);
      // Features counted here from the digits of the arch strings, independently of src/report/features.ts.
      const ops = ref.gt.map((t) =>
        b.task.space === 'nasbench201' ? t.arch.match(/\d/g)!.map(Number) : [...t.arch.matchAll(/, (\d)\)/g)].map((m) => Number(m[1])),
      );
      const countOf = (set: number[]) => ops.map((o) => o.filter((v) => set.includes(v)).length);
      const features: Record<string, (number | null)[]> =
        b.task.space === 'nasbench201'
          ? {
              conv_pool: countOf([2, 3]).map((c, i) => c - countOf([4])[i]!),
              cell_size: countOf([1]).map((c) => 6 - c),
              num_skip: countOf([0]),
              params: ref.column('params'),
            }
          : { conv_pool: countOf([3, 4, 5, 6]).map((c, i) => c - countOf([0, 1])[i]!), num_skip: countOf([2]), params: ref.column('params') };
      expect(b.features).toEqual(Object.keys(features));
      expect(b.rows).toEqual(['val_accuracy', ...PROXIES_USED]);
      b.rows.forEach((r, i) => {
        const y = r === 'val_accuracy' ? ref.acc : ref.column(r);
        b.features.forEach((f, k) => {
          const want = referencePandasPearson(features[f]!, y);
          expect(b.values[i]![k]!.n).toBe(want.n);
          expect(Math.abs(b.values[i]![k]!.value - want.value)).toBeLessThan(1e-9);
          // Without the −1e8 sentinels: the same reference over the pairs left.
          const kept = y.map((v) => (v === -1e8 ? null : v));
          const clean = referencePandasPearson(features[f]!, kept);
          expect(b.withoutSentinels[i]![k]!.n).toBe(clean.n);
          expect(Math.abs(b.withoutSentinels[i]![k]!.value - clean.value)).toBeLessThan(1e-9);
        });
        expect(b.sentinels[i]).toBe(y.filter((v) => v === -1e8).length);
      });
      // jacov has sentinels in every task (the data above puts them in ~3 % of the rows).
      expect(b.sentinels[b.rows.indexOf('jacov')]).toBeGreaterThan(0);
      expect(b.withoutSentinels[b.rows.indexOf('jacov')]!.map((c) => c.value)).not.toEqual(b.values[b.rows.indexOf('jacov')]!.map((c) => c.value));
    }
    const csvLines = biasCsv(a.bias).split('\n');
    expect(csvLines[0]).toBe('space,task,proxy,feature,n,pearson,sentinels,n_without_sentinels,pearson_without_sentinels');
  });
});

describe('createReport / writeReport', () => {
  it('refuses a version without ground truth, naming it', () => {
    const { tasks, counts } = buildTaskScores(results, []);
    expect(() => createReport(tasks, counts, { dataset: 'nb201', version: 'v3' })).toThrow(InputError);
    expect(() => createReport(tasks, counts, { dataset: 'nb201', version: 'v3' })).toThrow(
      'invalid dataset: "nb201@v3" (a version with ground truth (val_accuracy); this one has none)',
    );
  });

  it('writes the report files; the CSV holds the exact values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zc-report-'));
    try {
      const { tasks, counts } = buildTaskScores(results, truth);
      const report = createReport(tasks, counts, { dataset: 'synthetic', version: 'v1' });
      await writeReport(report, dir);
      expect((await readdir(dir)).sort()).toEqual([
        'bias.csv',
        'index.html',
        'report.md',
        'spearman.csv',
        'spearman.png',
        'spearman.svg',
        'task_correlation.csv',
        'task_correlation.png',
        'task_correlation.svg',
      ]);
      const lines = (await readFile(join(dir, 'spearman.csv'), 'utf8')).trim().split('\n');
      expect(lines[0]).toBe('space,task,label,proxy,n,spearman');
      expect(lines).toHaveLength(1 + 3 * 4);
      for (const line of lines.slice(1)) {
        const [space, task, , proxy, n, value] = line.split(',');
        const i = report.analyses.spearman.proxies.indexOf(proxy as ProxyName);
        const j = report.analyses.spearman.tasks.findIndex((t) => t.space === space && t.task === task);
        expect(Number(value)).toBe(report.analyses.spearman.values[i]![j]!.value);
        expect(Number(n)).toBe(report.analyses.spearman.values[i]![j]!.n);
      }
      const md = await readFile(join(dir, 'report.md'), 'utf8');
      for (const b of report.analyses.best)
        expect(md).toContain(`| ${b.task.label} (${b.task.space}/${b.task.task}) | ${b.proxy} | ${b.spearman.value.toFixed(3)} |`);
      const png = PNG.sync.read(await readFile(join(dir, 'spearman.png')));
      expect(png.width).toBeGreaterThan(0);
      // Same rows in any order, same text out (the PNG bytes' determinism is tested in report-heatmap.test.ts).
      const again = createReport(buildTaskScores([...results].reverse(), [...truth].reverse()).tasks, counts, { dataset: 'synthetic', version: 'v1' });
      expect(reportMarkdown(again)).toBe(md);
      expect(spearmanCsv(again.analyses)).toBe(await readFile(join(dir, 'spearman.csv'), 'utf8'));
      expect(biasCsv(again.analyses.bias)).toBe(await readFile(join(dir, 'bias.csv'), 'utf8'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
