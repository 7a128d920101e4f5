import type { ProxyName, SpaceName, TaskName } from '../core/names';

/**
 * One triple's outcome: the unit the workers emit, the aggregator merges, and every published
 * artifact (NASLib json, Parquet long table) is made of.
 */
export interface ResultRow {
  /** Deterministic id of (dataset, space, task, arch, proxy, seed, batch size, code version). */
  tripleId: string;
  space: SpaceName;
  task: TaskName;
  arch: string;
  proxy: ProxyName;
  seed: number;
  /** The batch size actually used (a last retry may halve the requested one). */
  batchSize: number;
  status: 'ok' | 'failed';
  /** Post-processed score; null when failed. */
  score: number | null;
  /** Seconds; null when failed. */
  time: number | null;
  /** Why it failed (status 'failed'). */
  reason?: string;
  /** Backend that computed it ('node', 'wasm', 'cpu'), or 'imported'. */
  backend: string;
  /** 'synthetic', a data path, or for imported rows the file they came from. */
  dataSource: string;
  dataSha256: string;
  codeVersion: string;
  /**
   * NASLib's architecture id (`idx` in the zc_<space>.json files): the key of `arch` in NASLib's
   * archs_<space>.json when the producer knows it, or an imported file's `idx` verbatim.
   */
  archIdx?: string;
}

/** Ground truth per (space, task, arch), kept apart from proxy rows. */
export interface GroundTruthRow {
  space: SpaceName;
  task: TaskName;
  arch: string;
  valAccuracy: number;
  /** Where it came from, e.g. the imported file name. */
  origin: string;
}

/**
 * The one rule for several `ok` rows of the same (space, task, arch, proxy) (other seeds, batch
 * sizes or code versions): the row with the smallest (seed, batch size, triple id) is the value.
 * Deterministic and independent of row order, so every reader picks the same score.
 */
export function rowPrecedes(
  a: Pick<ResultRow, 'seed' | 'batchSize' | 'tripleId'>,
  b: Pick<ResultRow, 'seed' | 'batchSize' | 'tripleId'>,
): boolean {
  if (a.seed !== b.seed) return a.seed < b.seed;
  if (a.batchSize !== b.batchSize) return a.batchSize < b.batchSize;
  return a.tripleId < b.tripleId;
}
