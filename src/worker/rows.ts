import type { ComputeResult } from '../core/types';
import { tripleIdsOf } from '../queue/ids';
import { archsOf, type JobPayload } from '../queue/schema';
import type { ResultRow } from '../storage/rows';

function dataSourceOf(p: JobPayload): string {
  if (p.data.source === 'path') return p.data.path;
  if (p.data.source === 'minibatch' || p.data.source === 'dataset') return `dataset:${p.data.dataset}`;
  return 'synthetic';
}

/**
 * One row per requested proxy of one architecture (`arch` as the message wrote it: its triple ids
 * derive from it): `ok` where the core returned a score, `failed` (with why) where not.
 */
export function rowsFromResult(p: JobPayload, arch: string, result: ComputeResult): ResultRow[] {
  const ids = tripleIdsOf(p, arch);
  return p.proxies.map((proxy): ResultRow => {
    const base = {
      tripleId: ids[proxy]!,
      space: p.space,
      task: p.task,
      arch: result.arch,
      proxy,
      seed: p.seed,
      batchSize: result.batchSize,
      backend: result.backend,
      dataSource: result.data.source,
      dataSha256: result.data.sha256,
      fingerprint: p.fingerprint,
    };
    const r = result.results[proxy];
    if (!r) return { ...base, status: 'failed', score: null, time: null, reason: 'the core returned no value for this proxy' };
    return { ...base, status: 'ok', score: r.score, time: r.time };
  });
}

/** A `failed` row for every triple of the message, or of one of its architectures. */
export function failedRows(p: JobPayload, reason: string, batchSize = p.batchSize, archs: readonly string[] = archsOf(p)): ResultRow[] {
  return archs.flatMap((arch) => {
    const ids = tripleIdsOf(p, arch);
    return p.proxies.map((proxy): ResultRow => ({
      tripleId: ids[proxy]!,
      space: p.space,
      task: p.task,
      arch,
      proxy,
      seed: p.seed,
      batchSize,
      status: 'failed',
      score: null,
      time: null,
      reason,
      backend: 'none',
      dataSource: dataSourceOf(p),
      dataSha256: '',
      fingerprint: p.fingerprint,
    }));
  });
}
