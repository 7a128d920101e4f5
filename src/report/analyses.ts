import { COLUMN_PROXIES, type SpaceName, type TaskName } from '../core/names';
import { archFeatures, BIAS_FEATURES, BIAS_SPACES, type BiasFeature } from './features';
import { finiteMean, pearson, spearman, type Correlation } from './stats';
import type { TaskScores } from './table';

/**
 * The paper's analyses (NAS-Bench-Suite-Zero, Krishnakumar et al. 2022), following NASLib,
 * branch zerocost, plotting/PlotCorrelations.ipynb and plotting/BiasExperiments.ipynb:
 * - Figure 2: Spearman of each proxy with val_accuracy per task, rows and columns ordered by
 *   their mean (ascending, `sort_by_mean`).
 * - Figure 3: Pearson correlation between every pair of tasks of their per-proxy Spearman
 *   vectors (`pred_df.corr()`), in the paper's fixed task order.
 * - Table 3: Pearson of each proxy with architecture features on NB201 and NB301.
 * Differences from the paper's runs: correlations use every architecture with ground truth
 * (the paper averaged over 10 seeds of 1 000 sampled ones), and an undefined correlation
 * (e.g. a constant proxy) stays NaN, shown as n/a, where the paper's notebook filled in 0.
 */

export interface TaskRef {
  space: SpaceName;
  task: TaskName;
  /** Short label as in the paper's figures, e.g. "NB201-CF10". */
  label: string;
}

/** A labelled matrix of correlations; `values[row][col]`. */
export interface CorrelationMatrix {
  title: string;
  rowLabels: string[];
  colLabels: string[];
  values: Correlation[][];
}

export interface SpearmanTable {
  tasks: TaskRef[];
  /** Built-in proxies and user modules' columns. */
  proxies: string[];
  /** values[proxy][task], in the order of `proxies` and `tasks`. */
  values: Correlation[][];
}

const SPACE_LABELS: Record<SpaceName, string> = {
  nasbench101: 'NB101',
  nasbench201: 'NB201',
  nasbench301: 'NB301',
  transbench101_micro: 'TNB101_MICRO',
  transbench101_macro: 'TNB101_MACRO',
};

const TASK_LABELS: Record<TaskName, string> = {
  cifar10: 'CF10',
  cifar100: 'CF100',
  'ImageNet16-120': 'IMGNT',
  svhn: 'SVHN',
  ninapro: 'NINAPRO',
  scifar100: 'SCIFAR100',
  jigsaw: 'JIGSAW',
  class_object: 'OBJECT',
  class_scene: 'SCENE',
  autoencoder: 'AUTOENC',
  normal: 'NORMAL',
  room_layout: 'ROOM',
  segmentsemantic: 'SEGMENT',
};

export function taskLabel(space: SpaceName, task: TaskName): string {
  return `${SPACE_LABELS[space]}-${TASK_LABELS[task]}`;
}

function taskRef(t: TaskScores): TaskRef {
  return { space: t.space, task: t.task, label: taskLabel(t.space, t.task) };
}

/** Figure 2's numbers: Spearman of every proxy present anywhere with val_accuracy, per task. */
export function spearmanTable(tasks: readonly TaskScores[]): SpearmanTable {
  const present = new Set<string>();
  for (const t of tasks) for (const p of t.scores.keys()) present.add(p);
  // NASLib's order, user modules' columns after it by name.
  const proxies = [...present].sort((a, b) => proxyRank(a) - proxyRank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const values = proxies.map((proxy) =>
    tasks.map((t) => {
      const scores = t.scores.get(proxy);
      return scores ? spearman(scores, t.valAccuracy) : { value: NaN, n: 0 };
    }),
  );
  return { tasks: tasks.map(taskRef), proxies, values };
}

function proxyRank(p: string): number {
  const i = (COLUMN_PROXIES as readonly string[]).indexOf(p);
  return i >= 0 ? i : COLUMN_PROXIES.length;
}

/**
 * Row and column order by ascending mean (NaN ignored), as the paper's `sort_by_mean`: rows by
 * their mean over columns, columns by their mean over rows. Rows/columns with no value go last;
 * ties keep the input order.
 */
export function orderByMean(values: readonly (readonly Correlation[])[]): { rows: number[]; cols: number[] } {
  const nRows = values.length;
  const nCols = nRows === 0 ? 0 : values[0]!.length;
  const rowMeans = values.map((row) => finiteMean(row.map((c) => c.value)));
  const colMeans = Array.from({ length: nCols }, (_, j) => finiteMean(values.map((row) => row[j]!.value)));
  const byMean = (means: number[]) => (a: number, b: number) => {
    const ma = means[a]!;
    const mb = means[b]!;
    if (Number.isNaN(ma) || Number.isNaN(mb)) return Number.isNaN(ma) === Number.isNaN(mb) ? a - b : Number.isNaN(ma) ? 1 : -1;
    return ma !== mb ? ma - mb : a - b;
  };
  return {
    rows: Array.from({ length: nRows }, (_, i) => i).sort(byMean(rowMeans)),
    cols: Array.from({ length: nCols }, (_, j) => j).sort(byMean(colMeans)),
  };
}

/** Figure 2 as a matrix: proxies × tasks, ordered by mean. */
export function spearmanMatrix(table: SpearmanTable): CorrelationMatrix {
  const { rows, cols } = orderByMean(table.values);
  return {
    title: 'Spearman rank correlation with val_accuracy',
    rowLabels: rows.map((i) => table.proxies[i]!),
    colLabels: cols.map((j) => table.tasks[j]!.label),
    values: rows.map((i) => cols.map((j) => table.values[i]![j]!)),
  };
}

/** Figure 3: Pearson between tasks of their per-proxy Spearman vectors (pairwise complete over proxies). */
export function taskCorrelation(table: SpearmanTable): CorrelationMatrix {
  const column = (j: number) => table.values.map((row) => row[j]!.value);
  const labels = table.tasks.map((t) => t.label);
  return {
    title: 'Task correlation: Pearson of per-proxy Spearman values',
    rowLabels: labels,
    colLabels: labels,
    values: table.tasks.map((_, a) => table.tasks.map((_, b) => pearson(column(a), column(b)))),
  };
}

export interface BestProxy {
  task: TaskRef;
  /** Undefined when no proxy has a defined Spearman value on this task. */
  proxy?: string;
  spearman: Correlation;
}

/** The proxy with the highest Spearman per task (ties: NASLib's proxy order). */
export function bestProxyPerTask(table: SpearmanTable): BestProxy[] {
  return table.tasks.map((task, j) => {
    let best: BestProxy = { task, spearman: { value: NaN, n: 0 } };
    table.proxies.forEach((proxy, i) => {
      const c = table.values[i]![j]!;
      if (Number.isFinite(c.value) && (best.proxy === undefined || c.value > best.spearman.value)) best = { task, proxy, spearman: c };
    });
    return best;
  });
}

/** Table 3 for one task: rows val_accuracy then the proxies, columns the bias features. */
export interface BiasTable {
  task: TaskRef;
  /** 'val_accuracy', then proxies. */
  rows: string[];
  features: BiasFeature[];
  /** values[row][feature]. */
  values: Correlation[][];
  /** Per row: how many of its values are NASLib's −1e8 sentinel (a NaN/inf score). */
  sentinels: number[];
  /** values[row][feature] with the sentinel values left out (equal to `values` where there are none). */
  withoutSentinels: Correlation[][];
}

/** What NASLib's post-processing (and core/proxies' postprocess) writes for a NaN or infinite score. */
export const SENTINEL_SCORE = -1e8;

/** The values with sentinels replaced by NaN, which every correlation drops as a missing pair. */
function withoutSentinel(values: Float64Array | readonly number[]): Float64Array {
  return Float64Array.from(values, (v) => (v === SENTINEL_SCORE ? NaN : v));
}

/**
 * Bias tables for the NB201 and NB301 tasks: Pearson of each proxy (and of val_accuracy, for
 * reference) with conv:pool, cell size (NB201 only), skip connections and the `params` proxy.
 * A task without `params` scores has no params column. Each row also counts its −1e8 sentinels
 * and has its correlations without them.
 */
export function biasTables(tasks: readonly TaskScores[]): BiasTable[] {
  const out: BiasTable[] = [];
  for (const t of tasks) {
    if (!BIAS_SPACES.includes(t.space)) continue;
    const n = t.archs.length;
    const featureValues = new Map<BiasFeature, Float64Array>();
    const convPool = new Float64Array(n);
    const cellSize = new Float64Array(n);
    const numSkip = new Float64Array(n);
    let hasCellSize = true;
    t.archs.forEach((arch, i) => {
      const f = archFeatures(t.space, arch);
      convPool[i] = f.conv_pool;
      numSkip[i] = f.num_skip;
      if (f.cell_size === null) hasCellSize = false;
      else cellSize[i] = f.cell_size;
    });
    featureValues.set('conv_pool', convPool);
    if (hasCellSize) featureValues.set('cell_size', cellSize);
    featureValues.set('num_skip', numSkip);
    const params = t.scores.get('params');
    if (params) featureValues.set('params', params);
    const features = BIAS_FEATURES.filter((f) => featureValues.has(f));
    const rows: BiasTable['rows'] = ['val_accuracy', ...t.scores.keys()];
    const ys = rows.map((row) => (row === 'val_accuracy' ? t.valAccuracy : t.scores.get(row)!));
    const values = ys.map((y) => features.map((f) => pearson(featureValues.get(f)!, y)));
    // A single sentinel among O(1) scores can decide a Pearson value alone: report both.
    const sentinels = ys.map((y) => y.filter((v) => v === SENTINEL_SCORE).length);
    const withoutSentinels = ys.map((y, i) =>
      sentinels[i] === 0 ? values[i]! : features.map((f) => pearson(withoutSentinel(featureValues.get(f)!), withoutSentinel(y))),
    );
    out.push({ task: taskRef(t), rows, features, values, sentinels, withoutSentinels });
  }
  return out;
}

/** Everything the report shows. */
export interface Analyses {
  spearman: SpearmanTable;
  spearmanMatrix: CorrelationMatrix;
  taskCorrelation: CorrelationMatrix;
  best: BestProxy[];
  bias: BiasTable[];
}

export function analyse(tasks: readonly TaskScores[]): Analyses {
  const table = spearmanTable(tasks);
  return {
    spearman: table,
    spearmanMatrix: spearmanMatrix(table),
    taskCorrelation: taskCorrelation(table),
    best: bestProxyPerTask(table),
    bias: biasTables(tasks),
  };
}
