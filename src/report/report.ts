import { mkdir, writeFile } from 'fs/promises';
import { join } from 'path';
import { InputError } from '../errors';
import { analyse, type Analyses, type BiasTable, type CorrelationMatrix, type TaskRef } from './analyses';
import { renderHeatmapPng, renderHeatmapSvg } from './heatmap';
import { reportHtml, seedStabilityHtml, type ReportProvenance } from './html';
import { SEED_STABILITY_HEADER, seedStabilityRows, type SeedStability } from './seed-stability';
import type { TableCounts, TaskScores } from './table';

/** Which dataset version a report describes. */
export interface ReportSource {
  dataset: string;
  version: string;
}

export interface Report {
  source: ReportSource;
  counts: TableCounts;
  /** Architectures with ground truth per task, in the order of `analyses.spearman.tasks`. */
  archCounts: number[];
  analyses: Analyses;
}

/** Run the analyses; a version without ground truth cannot be analysed. */
export function createReport(tasks: readonly TaskScores[], counts: TableCounts, source: ReportSource): Report {
  if (tasks.length === 0) {
    throw new InputError('dataset', `${source.dataset}@${source.version}`, 'a version with ground truth (val_accuracy); this one has none');
  }
  return { source, counts, archCounts: tasks.map((t) => t.archs.length), analyses: analyse(tasks) };
}

/** The report of a version without ground truth (e.g. a build on synthetic data): what it holds, why nothing is correlated. */
export function noGroundTruthMarkdown(source: ReportSource, counts: TableCounts): string {
  return [
    `# ${source.dataset}@${source.version}: no ground truth`,
    '',
    `This version has ${counts.resultRows} proxy rows (${counts.failedRows} failed) and no val_accuracy, so none of the`,
    'paper\u2019s analyses (Spearman with val_accuracy, task correlation, architecture bias) can be computed. Builds on',
    'synthetic data have no ground truth; versions imported from NASLib\u2019s released files (`zcbench import-naslib`) do.',
    '',
  ].join('\n');
}

/** A number written losslessly (shortest round-trip form); empty when undefined. */
function csvNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : '';
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => cells.map((c) => (typeof c === 'number' ? csvNumber(c) : csvField(c))).join(',');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Long format: one line per (task, proxy), tasks in the paper's order, proxies in NASLib's. */
export function spearmanCsv(a: Analyses): string {
  const rows: (string | number)[][] = [];
  a.spearman.tasks.forEach((t, j) =>
    a.spearman.proxies.forEach((p, i) => {
      const c = a.spearman.values[i]![j]!;
      rows.push([t.space, t.task, t.label, p, c.n, c.value]);
    }),
  );
  return csv(['space', 'task', 'label', 'proxy', 'n', 'spearman'], rows);
}

/** Long format: one line per ordered pair of tasks; n = proxies with a Spearman value on both. */
export function taskCorrelationCsv(a: Analyses): string {
  const tasks = a.spearman.tasks;
  const rows: (string | number)[][] = [];
  tasks.forEach((ta, i) =>
    tasks.forEach((tb, j) => {
      const c = a.taskCorrelation.values[i]![j]!;
      rows.push([ta.space, ta.task, tb.space, tb.task, c.n, c.value]);
    }),
  );
  return csv(['space_a', 'task_a', 'space_b', 'task_b', 'n', 'pearson'], rows);
}

/** Long format: one line per (task, proxy or val_accuracy, feature). */
export function biasCsv(bias: readonly BiasTable[]): string {
  const rows: (string | number)[][] = [];
  for (const b of bias) {
    b.rows.forEach((r, i) =>
      b.features.forEach((f, k) => {
        const c = b.values[i]![k]!;
        const w = b.withoutSentinels[i]![k]!;
        rows.push([b.task.space, b.task.task, r, f, c.n, c.value, b.sentinels[i]!, w.n, w.value]);
      }),
    );
  }
  return csv(['space', 'task', 'proxy', 'feature', 'n', 'pearson', 'sentinels', 'n_without_sentinels', 'pearson_without_sentinels'], rows);
}

export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return 'n/a';
  const s = v.toFixed(digits);
  return /^-0\.0+$/.test(s) ? s.slice(1) : s;
}

export function mdTable(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function matrixTable(m: CorrelationMatrix): string {
  return mdTable(
    ['', ...m.colLabels],
    m.values.map((row, i) => [m.rowLabels[i]!, ...row.map((c) => fmt(c.value))]),
  );
}

function taskName(t: TaskRef): string {
  return `${t.label} (${t.space}/${t.task})`;
}

/** The markdown summary: best proxy per task, the three analyses as tables, the method. */
export function reportMarkdown(r: Report): string {
  const a = r.analyses;
  const c = r.counts;
  const lines: string[] = [];
  lines.push(
    `# Zero-cost proxy report: ${r.source.dataset}@${r.source.version}`,
    '',
    'The analyses of NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets & Benchmarks): rank correlation of each',
    'proxy with validation accuracy (Figure 2), correlation between tasks (Figure 3) and architecture biases (Table 3).',
    '',
    '## Best proxy per task',
    '',
    mdTable(
      ['task', 'best proxy', 'Spearman', 'architectures'],
      a.best.map((b) => [taskName(b.task), b.proxy ?? 'n/a', fmt(b.spearman.value), String(b.spearman.n)]),
    ),
    '',
    '## Data',
    '',
    mdTable(
      ['task', 'architectures with ground truth', 'proxies'],
      a.spearman.tasks.map((t, j) => [
        taskName(t),
        String(r.archCounts[j]),
        a.spearman.proxies.filter((_, i) => a.spearman.values[i]![j]!.n > 0).join(', ') || 'none',
      ]),
    ),
    '',
    `Rows read: ${c.resultRows} proxy rows (${c.failedRows} failed, not used; ${c.rowsWithoutGroundTruth} of architectures without ground truth;` +
      ` ${c.supersededRows} superseded by another seed or batch size of the same triple), ${c.groundTruthRows} ground-truth rows` +
      ` (${c.duplicateGroundTruthRows} duplicates ignored).`,
    '',
    '## Spearman rank correlation with val_accuracy (Figure 2)',
    '',
    'Rows and columns ordered by their mean, ascending, as in the paper. Image: `spearman.png`, `spearman.svg`; values: `spearman.csv`.',
    '',
    '![Spearman rank correlation](spearman.png)',
    '',
    matrixTable(a.spearmanMatrix),
    '',
    '## Correlation between tasks (Figure 3)',
    '',
    'Pearson correlation between two tasks of their vectors of per-proxy Spearman values (proxies defined on both).',
    'Image: `task_correlation.png`, `task_correlation.svg`; values: `task_correlation.csv`.',
    '',
    '![Task correlation](task_correlation.png)',
    '',
    matrixTable(a.taskCorrelation),
    '',
  );
  if (a.bias.length > 0) {
    lines.push(
      '## Architecture bias (Table 3)',
      '',
      'Pearson correlation of each proxy (and of val_accuracy, for reference) with: `conv_pool` = number of convolution ops minus',
      'number of pooling ops; `cell_size` = edges that are not `none` (NB201 only: every NB301 cell has 8 edges); `num_skip` =',
      'skip connections; `params` = the `params` proxy (millions of parameters). Values: `bias.csv`, which also counts each',
      'row\u2019s −1e8 sentinels and gives every correlation without them (`pearson_without_sentinels`): one sentinel among O(1)',
      'scores can decide a Pearson value alone.',
      '',
    );
    for (const b of a.bias) {
      lines.push(
        `### ${taskName(b.task)}`,
        '',
        mdTable(
          ['', ...b.features],
          b.rows.map((row, i) => [row, ...b.values[i]!.map((v) => fmt(v.value))]),
        ),
        '',
      );
    }
  }
  lines.push(
    '## Method',
    '',
    '- Spearman = Pearson correlation of average ranks (tied values share the mean of their ranks), as scipy.stats.spearmanr.',
    '- Pairs with a missing value on either side (no score, a failed triple, NaN) are dropped; every correlation states its n.',
    '- NASLib writes a NaN/inf proxy value as −1e8. These sentinels are kept as values (the lowest scores), as in the',
    '  paper\u2019s analysis code (NASLib, branch zerocost: the correlation runner ranks them; the bias notebook\u2019s pandas `corr` keeps them).',
    '- A stored ±inf (early NASLib files) ranks as the extreme value in Spearman (the runner maps it to ±1e9) and is dropped',
    '  from Pearson correlations (pandas `corr` skips non-finite values).',
    '- One score per (architecture, proxy): with several rows, the smallest (seed, batch size, triple id) is used (the NASLib json and `query` give the mean over seeds; seed_stability.csv how the seeds agree).',
    '- All architectures with ground truth are used (the paper averaged 10 samples of 1 000); an undefined correlation is n/a',
    '  (the paper filled in 0).',
    '',
  );
  return lines.join('\n');
}

/** seed_stability.csv: each proxy's mean Spearman between seeds, per (space, task). */
export function seedStabilityCsv(rows: readonly SeedStability[]): string {
  return csv(SEED_STABILITY_HEADER, seedStabilityRows(rows));
}

/** The seed-stability table as markdown (report.md's section beside Figure 2). */
export function seedStabilityMarkdown(rows: readonly SeedStability[]): string {
  const table = mdTable(
    ['space', 'task', 'proxy', 'seeds', 'architectures', 'mean Spearman between seeds'],
    rows.map((r) => [r.space, r.task, r.proxy, r.seeds.join(', '), String(r.archs), fmt(r.spearman)]),
  );
  return [
    '## Seed-to-seed rank stability',
    '',
    'Per proxy: Spearman between two seeds\u2019 scores over the architectures both hold, averaged over seed pairs (`seed_stability.csv`).',
    '',
    table,
    '',
  ].join('\n');
}

/**
 * Write the report's files into `outDir` (index.html with `provenance`; with `stability`, the
 * seed-to-seed table in seed_stability.csv, report.md and index.html); returns the paths written.
 */
export async function writeReport(r: Report, outDir: string, provenance: ReportProvenance = [], stability: readonly SeedStability[] = []): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const a = r.analyses;
  const files: [string, string | Buffer][] = [
    ['report.md', stability.length > 0 ? `${reportMarkdown(r)}\n${seedStabilityMarkdown(stability)}` : reportMarkdown(r)],
    ['spearman.csv', spearmanCsv(a)],
    ['spearman.png', renderHeatmapPng(a.spearmanMatrix)],
    ['spearman.svg', renderHeatmapSvg(a.spearmanMatrix)],
    ['task_correlation.csv', taskCorrelationCsv(a)],
    ['task_correlation.png', renderHeatmapPng(a.taskCorrelation)],
    ['task_correlation.svg', renderHeatmapSvg(a.taskCorrelation)],
  ];
  if (a.bias.length > 0) files.push(['bias.csv', biasCsv(a.bias)]);
  if (stability.length > 0) files.push(['seed_stability.csv', seedStabilityCsv(stability)]);
  files.push(['index.html', reportHtml(r, provenance, stability.length > 0 ? seedStabilityHtml(stability) : undefined)]);
  const written: string[] = [];
  for (const [name, content] of files) {
    const path = join(outDir, name);
    await writeFile(path, content);
    written.push(path);
  }
  return written;
}
