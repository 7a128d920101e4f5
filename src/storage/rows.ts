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
