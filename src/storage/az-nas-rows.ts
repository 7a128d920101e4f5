import { createHash } from 'crypto';
import { AZ_NAS, AZ_NAS_PARTS } from '../core/names';
import { azNasRankScores } from '../core/proxies';
import { effectiveRows } from './cells';
import type { StoredRow } from './parquet';

/**
 * AZ-NAS's combined rank score of one (space, task) (docs/proxies.md §11): over the population of
 * architectures whose four parts are all `ok` (each part's effective row, `rowPrecedes`), the sum of
 * ln(rank / L) per part. A dataset-level column: adding architectures changes every row of it, so
 * the publisher derives it from the version's rows, never a worker. Architectures missing a part
 * have no az_nas row. Each row's triple id is a hash of its four parts' triple ids.
 */
export function azNasRows(rows: readonly StoredRow[]): StoredRow[] {
  const parts = new Map<string, Map<string, StoredRow>>();
  for (const r of effectiveRows(rows.filter((r) => (AZ_NAS_PARTS as readonly string[]).includes(r.proxy))).values()) {
    if (r.status !== 'ok' || r.score === null) continue;
    let byPart = parts.get(r.arch);
    if (!byPart) parts.set(r.arch, (byPart = new Map()));
    byPart.set(r.proxy, r);
  }
  const complete = [...parts.entries()].filter(([, byPart]) => byPart.size === AZ_NAS_PARTS.length).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (complete.length === 0) return [];
  const value = (byPart: Map<string, StoredRow>, part: (typeof AZ_NAS_PARTS)[number]) => byPart.get(part)!.score!;
  const scores = azNasRankScores(
    complete.map(([, p]) => ({
      expressivity: value(p, 'az_nas.expressivity'),
      progressivity: value(p, 'az_nas.progressivity'),
      trainability: value(p, 'az_nas.trainability'),
      complexity: value(p, 'az_nas.complexity'),
    })),
  );
  return complete.map(([, byPart], i) => {
    const ordered = AZ_NAS_PARTS.map((part) => byPart.get(part)!);
    const first = ordered[0]!;
    const tripleId = createHash('sha256')
      .update(JSON.stringify([AZ_NAS, ...ordered.map((r) => r.tripleId)]))
      .digest('hex')
      .slice(0, 32);
    const time = ordered.every((r) => r.time !== null) ? ordered.reduce((s, r) => s + r.time!, 0) : null;
    const row: StoredRow = { ...first, tripleId, proxy: AZ_NAS, score: scores[i]!, time };
    delete row.reason;
    return row;
  });
}

/** Whether two lists of az_nas rows hold the same cells with the same scores (then a version keeps the parent's). */
export function sameAzNasRows(a: readonly StoredRow[], b: readonly StoredRow[]): boolean {
  if (a.length !== b.length) return false;
  const byId = new Map(a.map((r) => [r.tripleId, r]));
  return b.every((r) => {
    const o = byId.get(r.tripleId);
    return o !== undefined && Object.is(o.score, r.score) && Object.is(o.time, r.time);
  });
}
