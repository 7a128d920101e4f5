import { COLUMN_PROXIES, SPACES, SPACE_TASKS, TASKS, type SpaceName, type TaskName } from '../core/names';
import { rowPrecedes, type GroundTruthRow, type ResultRow } from '../storage/rows';

/**
 * One (space, task) of a dataset as the analyses see it: the architectures that have ground truth,
 * their val_accuracy, and per proxy one score per architecture (NaN where there is none).
 */
export interface TaskScores {
  space: SpaceName;
  task: TaskName;
  /** Sorted. */
  archs: string[];
  valAccuracy: Float64Array;
  /** Proxies with at least one score on this task, in NASLib's order, user modules' after by name; arrays aligned with `archs`. */
  scores: Map<string, Float64Array>;
}

/** What went into the tables, for the report's summary. */
export interface TableCounts {
  groundTruthRows: number;
  /** Ground-truth rows repeating an (space, task, arch) already seen (the first one is kept). */
  duplicateGroundTruthRows: number;
  resultRows: number;
  failedRows: number;
  /** `ok` rows of an architecture without ground truth for its (space, task): outside the analyses. */
  rowsWithoutGroundTruth: number;
  /** `ok` rows superseded by another row of the same (space, task, arch, proxy), see ScoreTableBuilder. */
  supersededRows: number;
}

/** The row kept for one (space, task, arch, proxy). */
type Chosen = Pick<ResultRow, 'seed' | 'batchSize' | 'tripleId'> & { score: number };

/**
 * Collects result and ground-truth rows in any order (streams of ~10^6 rows) into TaskScores.
 * Only `ok` rows count. If a dataset holds several `ok` rows for one (space, task, arch, proxy)
 * (other seeds or batch sizes), storage's `rowPrecedes` picks the one used: one deterministic value
 * per architecture, never an average that would mix in a −1e8 sentinel. A later row with the same
 * triple id replaces the earlier one (a retried triple), as in storage's dedupeByTripleId.
 */
export class ScoreTableBuilder {
  private readonly truth = new Map<string, Map<string, number>>();
  /** Column by proxy name: the built-ins, then user modules' columns as rows name them. */
  private readonly columnIndex = new Map<string, number>(COLUMN_PROXIES.map((p, i) => [p, i]));
  private readonly columnNames: string[] = [...COLUMN_PROXIES];
  private readonly results = new Map<string, Map<string, (Chosen | undefined)[]>>();
  private readonly counts: TableCounts = {
    groundTruthRows: 0,
    duplicateGroundTruthRows: 0,
    resultRows: 0,
    failedRows: 0,
    rowsWithoutGroundTruth: 0,
    supersededRows: 0,
  };

  addGroundTruth(row: GroundTruthRow): void {
    this.counts.groundTruthRows++;
    const key = taskKey(row.space, row.task);
    let archs = this.truth.get(key);
    if (!archs) this.truth.set(key, (archs = new Map()));
    if (archs.has(row.arch)) {
      this.counts.duplicateGroundTruthRows++;
      return;
    }
    archs.set(row.arch, row.valAccuracy);
  }

  addResult(row: ResultRow): void {
    this.counts.resultRows++;
    if (row.status !== 'ok' || row.score === null) {
      this.counts.failedRows++;
      return;
    }
    let proxyIndex = this.columnIndex.get(row.proxy);
    if (proxyIndex === undefined) this.columnIndex.set(row.proxy, (proxyIndex = this.columnNames.push(row.proxy) - 1));
    const key = taskKey(row.space, row.task);
    let archs = this.results.get(key);
    if (!archs) this.results.set(key, (archs = new Map()));
    let slots = archs.get(row.arch);
    if (!slots) archs.set(row.arch, (slots = []));
    const candidate: Chosen = { score: row.score, seed: row.seed, batchSize: row.batchSize, tripleId: row.tripleId };
    const current = slots[proxyIndex];
    if (current === undefined) {
      slots[proxyIndex] = candidate;
    } else {
      this.counts.supersededRows++;
      if (candidate.tripleId === current.tripleId || rowPrecedes(candidate, current)) slots[proxyIndex] = candidate;
    }
  }

  /** The built-in columns in NASLib's order, then user modules' by name. */
  private columnOrder(): string[] {
    const modules = this.columnNames.slice(COLUMN_PROXIES.length).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return [...COLUMN_PROXIES, ...modules];
  }

  /** Whether any ground truth was added. */
  hasGroundTruth(): boolean {
    return this.truth.size > 0;
  }

  /** The tables, one per (space, task) with ground truth, in the paper's order (spaces, then tasks). */
  build(): { tasks: TaskScores[]; counts: TableCounts } {
    const counts = { ...this.counts };
    const tasks: TaskScores[] = [];
    for (const [key, truth] of this.truth) {
      const [space, task] = splitTaskKey(key);
      // Sorted (code-unit order) so that sums, and so the last bits of every value, do not depend on row order.
      const archs = [...truth.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      const index = new Map(archs.map((a, i) => [a, i]));
      const valAccuracy = Float64Array.from(archs, (a) => truth.get(a)!);
      const columns: (Float64Array | undefined)[] = [];
      for (const [arch, slots] of this.results.get(key) ?? []) {
        const i = index.get(arch);
        if (i === undefined) {
          counts.rowsWithoutGroundTruth += slots.filter((s) => s !== undefined).length;
          continue;
        }
        slots.forEach((chosen, p) => {
          if (chosen === undefined) return;
          const column = (columns[p] ??= new Float64Array(archs.length).fill(NaN));
          column[i] = chosen.score;
        });
      }
      const scores = new Map<string, Float64Array>();
      for (const proxy of this.columnOrder()) {
        const column = columns[this.columnIndex.get(proxy)!];
        if (column) scores.set(proxy, column);
      }
      tasks.push({ space, task, archs, valAccuracy, scores });
    }
    for (const [key, archs] of this.results) {
      if (this.truth.has(key)) continue;
      for (const slots of archs.values()) counts.rowsWithoutGroundTruth += slots.filter((s) => s !== undefined).length;
    }
    tasks.sort((a, b) => taskOrder(a.space, a.task) - taskOrder(b.space, b.task));
    return { tasks, counts };
  }
}

function taskKey(space: SpaceName, task: TaskName): string {
  return `${space}\u0000${task}`;
}

function splitTaskKey(key: string): [SpaceName, TaskName] {
  const [space, task] = key.split('\u0000');
  return [space as SpaceName, task as TaskName];
}

/** Sort key: space in SPACES order, then the task's position in that space's list (else in TASKS). */
export function taskOrder(space: SpaceName, task: TaskName): number {
  const s = SPACES.indexOf(space);
  const inSpace = SPACE_TASKS[space]?.indexOf(task) ?? -1;
  const t = inSpace >= 0 ? inSpace : TASKS.length + TASKS.indexOf(task);
  return (s < 0 ? SPACES.length : s) * 1000 + t;
}

/** Build the tables from in-memory rows. */
export function buildTaskScores(results: Iterable<ResultRow>, groundTruth: Iterable<GroundTruthRow>): { tasks: TaskScores[]; counts: TableCounts } {
  const builder = new ScoreTableBuilder();
  for (const row of groundTruth) builder.addGroundTruth(row);
  for (const row of results) builder.addResult(row);
  return builder.build();
}
