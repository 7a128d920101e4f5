import type { Redis } from 'ioredis';
import type { ResultRow } from '../storage/rows';
import { listBuildIds } from './build';
import { runScript } from './lua';
import { AGGREGATOR_GROUP, redisKeys } from './names';

/** Longest failure reason kept as a key of the failures hash (the row keeps the whole reason). */
export const REASON_KEY_MAX = 160;

/** What became of rows given to `writeRows`: written, or refused because the build is gone or published. */
export type WriteOutcome = 'written' | 'no-build' | 'published';

/**
 * Append finished triples to the build's results stream (field `row` = JSON ResultRow) and bump
 * the build's counters, atomically in one script: a row is durable in Redis before its job completes.
 * A build without a record or already published takes no rows (a late row must not recreate its stream).
 */
export async function writeRows(redis: Redis, prefix: string, buildId: string, rows: readonly ResultRow[]): Promise<WriteOutcome> {
  if (rows.length === 0) return 'written';
  const args: (string | number)[] = [Date.now()];
  for (const row of rows) args.push(JSON.stringify(row), row.status, row.status === 'ok' ? '' : (row.reason ?? 'unknown').slice(0, REASON_KEY_MAX));
  const keys = redisKeys(prefix);
  const n = await runScript(redis, 'writeRows', [keys.results(buildId), keys.build(buildId), keys.failures(buildId)], args);
  return n === -1 ? 'no-build' : n === -2 ? 'published' : 'written';
}

/** Entries in a build's results stream (0 when it does not exist). */
export function resultsLength(redis: Redis, prefix: string, buildId: string): Promise<number> {
  return redis.xlen(redisKeys(prefix).results(buildId));
}

/** A results stream as `/metrics` reports it. */
export interface ResultsStreamStats {
  buildId: string;
  /** Entries in the stream (rows not yet in an S3 segment). */
  length: number;
  /** Entries the aggregator's consumer group has not read yet (the whole stream before it exists). */
  lag: number;
  /** Entries read but not acknowledged (not yet in a segment). */
  pending: number;
  /** Seconds since the producer created the build. */
  ageSeconds: number;
}

/** The results streams of every build not yet published. */
export async function resultsStreamStats(redis: Redis, prefix: string, now = Date.now()): Promise<ResultsStreamStats[]> {
  const stats: ResultsStreamStats[] = [];
  const keys = redisKeys(prefix);
  for (const buildId of await listBuildIds(redis, prefix)) {
    const [state, createdAt] = await redis.hmget(keys.build(buildId), 'state', 'createdAt');
    if (state === null || state === 'published') continue;
    const length = await resultsLength(redis, prefix, buildId);
    const group = length > 0 ? await aggregatorGroup(redis, keys.results(buildId)) : undefined;
    stats.push({
      buildId,
      length,
      // Redis reports no lag (nil) when it cannot tell (entries deleted past the group's position): count the stream.
      lag: group ? (group.lag ?? length) : length,
      pending: group?.pending ?? 0,
      ageSeconds: Math.max(0, (now - Number(createdAt)) / 1000),
    });
  }
  return stats;
}

async function aggregatorGroup(redis: Redis, stream: string): Promise<{ pending: number; lag: number | null } | undefined> {
  let groups: unknown[][];
  try {
    groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  } catch {
    return undefined; // the stream went away since its length was read (the build was published)
  }
  for (const g of groups) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) fields.set(String(g[i]), g[i + 1]);
    if (fields.get('name') !== AGGREGATOR_GROUP) continue;
    const lag = fields.get('lag');
    return { pending: Number(fields.get('pending') ?? 0), lag: lag === null || lag === undefined ? null : Number(lag) };
  }
  return undefined;
}
