import { rowPrecedes, type ResultRow } from './rows';

/** A cell is one (space, task, arch, proxy): the thing a score answers. */
export function cellKey(r: Pick<ResultRow, 'space' | 'task' | 'arch' | 'proxy'>): string {
  return `${r.space}\u0000${r.task}\u0000${r.arch}\u0000${r.proxy}`;
}

/**
 * A cell under one seed and batch size: a build's `ok` row there supersedes the parent's row of
 * another triple id (other code or other data computed the same thing), so recomputing replaces.
 */
export function slotKey(r: Pick<ResultRow, 'space' | 'task' | 'arch' | 'proxy' | 'seed' | 'batchSize'>): string {
  return `${cellKey(r)}\u0000${r.seed}\u0000${r.batchSize}`;
}

/**
 * Later rows with the same triple id replace earlier ones (a retried triple), keeping the
 * position of the first occurrence so files stay in a stable order.
 */
export function dedupeByTripleId<T extends ResultRow>(rows: Iterable<T>): T[] {
  const index = new Map<string, number>();
  const out: T[] = [];
  for (const r of rows) {
    const at = index.get(r.tripleId);
    if (at === undefined) {
      index.set(r.tripleId, out.length);
      out.push(r);
    } else {
      out[at] = r;
    }
  }
  return out;
}

/**
 * The row that stands for each cell, in first-seen order: among `ok` rows the one `rowPrecedes`
 * picks; a cell with no `ok` row is represented by its last failed row (the latest reason).
 */
export function effectiveRows<T extends ResultRow>(rows: Iterable<T>): Map<string, T> {
  const cells = new Map<string, T>();
  for (const r of rows) {
    const key = cellKey(r);
    const cur = cells.get(key);
    if (!cur) {
      cells.set(key, r);
    } else if (r.status === 'ok') {
      if (cur.status !== 'ok' || rowPrecedes(r, cur)) cells.set(key, r);
    } else if (cur.status !== 'ok') {
      cells.set(key, r);
    }
  }
  return cells;
}

/**
 * Each cell's `ok` rows, one per seed (among a seed's rows the one `rowPrecedes` picks), in seed
 * order: what a version's per-seed statistics (mean, std, n) are computed from.
 */
export function rowsBySeed<T extends ResultRow>(rows: Iterable<T>): Map<string, T[]> {
  const perSeed = new Map<string, T>();
  for (const r of rows) {
    if (r.status !== 'ok' || r.score === null) continue;
    const key = `${cellKey(r)}\u0000${r.seed}`;
    const cur = perSeed.get(key);
    if (!cur || rowPrecedes(r, cur)) perSeed.set(key, r);
  }
  const cells = new Map<string, T[]>();
  for (const r of perSeed.values()) {
    const key = cellKey(r);
    let list = cells.get(key);
    if (!list) cells.set(key, (list = []));
    list.push(r);
  }
  for (const list of cells.values()) list.sort((a, b) => a.seed - b.seed);
  return cells;
}

/** Mean, sample standard deviation (n − 1, pandas' default; 0 for one value) and count of a cell's per-seed scores. */
export function seedStatistics(scores: readonly number[]): { mean: number; std: number; n: number } {
  const n = scores.length;
  const mean = scores.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(scores.reduce((a, s) => a + (s - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}
