import type { ProxyName } from '../core/names';
import type { ComputeResult } from '../core/types';
import { tripleIdsOf } from '../queue/ids';
import type { JobPayload } from '../queue/schema';
import type { ResultRow } from '../storage/rows';

type RowBase = Omit<ResultRow, 'proxy' | 'tripleId' | 'status' | 'score' | 'time' | 'reason'>;

function dataSourceOf(p: JobPayload): string {
  return p.data.source === 'path' ? p.data.path : 'synthetic';
}

/** One row per requested proxy: `ok` where the core returned a score, `failed` (with why) where not. */
export function rowsFromResult(p: JobPayload, result: ComputeResult): ResultRow[] {
  const base: RowBase = {
    space: p.space,
    task: p.task,
    arch: result.arch,
    seed: p.seed,
    batchSize: result.batchSize,
    backend: result.backend,
    dataSource: result.data.source,
    dataSha256: result.data.sha256,
    codeVersion: p.codeVersion,
  };
  const ids = tripleIdsOf(p);
  return p.proxies.map((proxy): ResultRow => {
    const r = result.results[proxy];
    const tripleId = ids[proxy]!;
    if (!r) return { ...base, tripleId, proxy, status: 'failed', score: null, time: null, reason: 'the core returned no value for this proxy' };
    return { ...base, tripleId, proxy, status: 'ok', score: r.score, time: r.time };
  });
}

/** A `failed` row for every triple of the message. */
export function failedRows(p: JobPayload, reason: string, batchSize = p.batchSize, proxies: readonly ProxyName[] = p.proxies): ResultRow[] {
  const ids = tripleIdsOf(p);
  return proxies.map((proxy) => ({
    tripleId: ids[proxy]!,
    space: p.space,
    task: p.task,
    arch: p.arch,
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
    codeVersion: p.codeVersion,
  }));
}
