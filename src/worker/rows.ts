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
  // What every row of the job shares; a module's row also names its sha256.
  const base = (proxy: string, module?: string) => ({
    tripleId: ids[proxy]!,
    space: p.space,
    task: p.task,
    arch: result.arch,
    proxy,
    ...(module !== undefined && { module }),
    seed: p.seed,
    batchSize: result.batchSize,
    // 'wasm:3': the backward passes split the minibatch between 3 wasm heaps (same values up to float rounding).
    backend: result.shards ? `${result.backend}:${result.shards}` : result.backend,
    dataSource: result.data.source,
    dataSha256: result.data.sha256,
    fingerprint: p.fingerprint,
  });
  const builtIn = p.proxies.map((proxy): ResultRow => {
    const r = result.results[proxy];
    if (!r) return { ...base(proxy), status: 'failed', score: null, time: null, reason: 'the core returned no value for this proxy' };
    return { ...base(proxy), status: 'ok', score: r.score, time: r.time };
  });
  // A module that threw fails alone, naming itself and its error.
  const modules = (p.modules ?? []).map((m): ResultRow => {
    const row = base(m.name, m.sha256);
    const r = result.moduleResults?.[m.name];
    if (!r) return { ...row, status: 'failed', score: null, time: null, reason: `proxy module ${m.name}: the core returned no value` };
    if ('error' in r)
      return { ...row, status: 'failed', score: null, time: null, reason: `proxy module ${m.name} (sha256 ${m.sha256.slice(0, 12)}…) threw: ${r.error}` };
    return { ...row, status: 'ok', score: r.score, time: r.time };
  });
  return [...builtIn, ...modules];
}

/** A `failed` row for every triple of the message (its modules' too), or of one of its architectures. */
export function failedRows(p: JobPayload, reason: string, batchSize = p.batchSize, archs: readonly string[] = archsOf(p)): ResultRow[] {
  const columns: { proxy: string; module?: string }[] = [
    ...p.proxies.map((proxy) => ({ proxy })),
    ...(p.modules ?? []).map((m) => ({ proxy: m.name, module: m.sha256 })),
  ];
  return archs.flatMap((arch) => {
    const ids = tripleIdsOf(p, arch);
    return columns.map(({ proxy, module }): ResultRow => ({
      tripleId: ids[proxy]!,
      space: p.space,
      task: p.task,
      arch,
      proxy,
      ...(module !== undefined ? { module } : {}),
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
