import { COLUMN_PROXIES, type ColumnName, type SpaceName, type TaskName } from '../core/names';
import type { Dataset } from '../storage/dataset';
import { taskLabel, type CorrelationMatrix } from './analyses';
import { csv, fmt, mdTable } from './report';
import { averageRanks, kendall, spearman, type Correlation } from './stats';
import { taskOrder } from './table';

/**
 * Two score tables side by side (`zcbench compare A B`): per (space, task, proxy) held by both, the
 * architectures scored on both sides, the rank agreement of their scores (Spearman, Kendall tau-b),
 * each side's Spearman with val_accuracy (from A, else B), and the architectures whose ranks differ
 * most. Ranks, not raw differences: two implementations' scores may differ by a scale.
 */

/** What a comparison reads of a dataset version. */
export type ScoreSource = Pick<Dataset, 'spaces' | 'tasks' | 'archs' | 'proxies' | 'score' | 'valAccuracy'>;

/** One architecture's place on both sides: average ranks (1 = lowest score) among the common ones. */
export interface RankDifference {
  arch: string;
  scoreA: number;
  scoreB: number;
  rankA: number;
  rankB: number;
}

export interface ComparisonRow {
  space: SpaceName;
  task: TaskName;
  label: string;
  proxy: ColumnName;
  /** Architectures with a score on both sides. */
  n: number;
  spearman: Correlation;
  kendall: Correlation;
  /** Spearman with val_accuracy over the common architectures that have it. */
  valSpearmanA: Correlation;
  valSpearmanB: Correlation;
  /** Largest |rankA − rankB| first (ties: architecture key order). */
  largest: RankDifference[];
}

export interface Comparison {
  a: string;
  b: string;
  rows: ComparisonRow[];
}

const byKey = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/** Compare every (space, task, proxy) that both hold; `top` = rank differences kept per row. */
export function compareSources(a: ScoreSource, b: ScoreSource, labels: { a: string; b: string }, top = 5): Comparison {
  const rows: ComparisonRow[] = [];
  const tasks: [SpaceName, TaskName][] = [];
  for (const space of a.spaces()) for (const task of a.tasks(space)) if (b.tasks(space).includes(task)) tasks.push([space, task]);
  tasks.sort((x, y) => taskOrder(x[0], x[1]) - taskOrder(y[0], y[1]));
  for (const [space, task] of tasks) {
    const inB = new Set(b.proxies(space, task));
    const archs = [...a.archs(space, task)].sort(byKey);
    for (const proxy of a.proxies(space, task).filter((p) => inB.has(p))) {
      rows.push(compareProxy(a, b, space, task, proxy, archs, top));
    }
  }
  return { a: labels.a, b: labels.b, rows };
}

function compareProxy(a: ScoreSource, b: ScoreSource, space: SpaceName, task: TaskName, proxy: ColumnName, archs: string[], top: number): ComparisonRow {
  const common: string[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  const truth: number[] = [];
  for (const arch of archs) {
    const x = a.score(space, task, arch, proxy);
    const y = b.score(space, task, arch, proxy);
    if (x === undefined || y === undefined || Number.isNaN(x) || Number.isNaN(y)) continue;
    common.push(arch);
    sa.push(x);
    sb.push(y);
    truth.push(a.valAccuracy(space, task, arch) ?? b.valAccuracy(space, task, arch) ?? NaN);
  }
  const ra = averageRanks(sa);
  const rb = averageRanks(sb);
  const largest = common
    .map((arch, i) => ({ arch, scoreA: sa[i]!, scoreB: sb[i]!, rankA: ra[i]!, rankB: rb[i]! }))
    .sort((p, q) => Math.abs(q.rankA - q.rankB) - Math.abs(p.rankA - p.rankB) || byKey(p.arch, q.arch))
    .slice(0, top);
  return {
    space,
    task,
    label: taskLabel(space, task),
    proxy,
    n: common.length,
    spearman: spearman(sa, sb),
    kendall: kendall(sa, sb),
    valSpearmanA: spearman(sa, truth),
    valSpearmanB: spearman(sb, truth),
    largest,
  };
}

/** Heatmap input: proxies × tasks, Spearman between A and B. */
export function comparisonMatrix(c: Comparison): CorrelationMatrix {
  const proxies = COLUMN_PROXIES.filter((p) => c.rows.some((r) => r.proxy === p));
  const labels = [...new Set(c.rows.map((r) => r.label))];
  const at = new Map(c.rows.map((r) => [`${r.proxy}\u0000${r.label}`, r.spearman]));
  return {
    title: `Spearman between ${c.a} and ${c.b}`,
    rowLabels: proxies,
    colLabels: labels,
    values: proxies.map((p) => labels.map((l) => at.get(`${p}\u0000${l}`) ?? { value: NaN, n: 0 })),
  };
}

const HEADER = ['space', 'task', 'proxy', 'n', 'spearman', 'kendall', 'val_spearman_a', 'val_spearman_b', 'largest_rank_difference'];

function largestText(r: ComparisonRow): string {
  const d = r.largest[0];
  return d === undefined || d.rankA === d.rankB ? 'none' : `${d.arch} ${fmtRank(d.rankA)}→${fmtRank(d.rankB)} of ${r.n}`;
}

function fmtRank(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function cells(r: ComparisonRow): string[] {
  return [
    r.space,
    r.task,
    r.proxy,
    String(r.n),
    fmt(r.spearman.value),
    fmt(r.kendall.value),
    fmt(r.valSpearmanA.value),
    fmt(r.valSpearmanB.value),
    largestText(r),
  ];
}

/** Plain-text table with aligned columns (the command's default output). */
export function comparisonText(c: Comparison): string {
  const lines = [HEADER, ...c.rows.map(cells)];
  const widths = HEADER.map((_, k) => Math.max(...lines.map((l) => l[k]!.length)));
  const text = lines.map((l) =>
    l
      .map((s, k) => (k >= 3 && k <= 7 ? s.padStart(widths[k]!) : s.padEnd(widths[k]!)))
      .join('  ')
      .trimEnd(),
  );
  return [`A = ${c.a}, B = ${c.b}; ranks: 1 = lowest score`, ...text].join('\n') + '\n';
}

/** One line per (space, task, proxy); numbers written losslessly. */
export function comparisonCsv(c: Comparison): string {
  return csv(
    [...HEADER.slice(0, 8), 'largest_arch', 'largest_rank_a', 'largest_rank_b'],
    c.rows.map((r) => {
      const d = r.largest[0];
      return [
        r.space,
        r.task,
        r.proxy,
        r.n,
        r.spearman.value,
        r.kendall.value,
        r.valSpearmanA.value,
        r.valSpearmanB.value,
        d?.arch ?? '',
        d?.rankA ?? NaN,
        d?.rankB ?? NaN,
      ];
    }),
  );
}

/** Every kept rank difference, one line each. */
export function differencesCsv(c: Comparison): string {
  const rows: (string | number)[][] = [];
  for (const r of c.rows) for (const d of r.largest) rows.push([r.space, r.task, r.proxy, d.arch, d.scoreA, d.scoreB, d.rankA, d.rankB, r.n]);
  return csv(['space', 'task', 'proxy', 'arch', 'score_a', 'score_b', 'rank_a', 'rank_b', 'n'], rows);
}

export function comparisonMarkdown(c: Comparison): string {
  return [
    `# ${c.a} against ${c.b}`,
    '',
    'Per (space, task, proxy) held by both: n architectures scored on both sides, Spearman and Kendall tau-b',
    'between the two sides\u2019 scores, each side\u2019s Spearman with val_accuracy (A\u2019s ground truth, else B\u2019s),',
    'and the architecture whose rank (1 = lowest score, among the n) moves most. Image: `compare.png`, `compare.svg`.',
    '',
    mdTable(
      HEADER,
      c.rows.map((r) => cells(r).map((s) => s.replace(/\|/g, '\\|'))),
    ),
    '',
  ].join('\n');
}
