import type { Redis } from 'ioredis';
import type { ResultRow } from '../storage/rows';
import { runScript } from './lua';
import { redisKeys } from './names';

/** Longest failure reason kept as a key of the failures hash (the row keeps the whole reason). */
export const REASON_KEY_MAX = 160;

/**
 * Append finished triples to the build's results stream (field `row` = JSON ResultRow) and bump
 * the build's counters, atomically in one script: a row is durable in Redis before its job completes.
 */
export async function writeRows(redis: Redis, prefix: string, buildId: string, rows: readonly ResultRow[]): Promise<void> {
  if (rows.length === 0) return;
  const args: (string | number)[] = [Date.now()];
  for (const row of rows) args.push(JSON.stringify(row), row.status, row.status === 'ok' ? '' : (row.reason ?? 'unknown').slice(0, REASON_KEY_MAX));
  const keys = redisKeys(prefix);
  await runScript(redis, 'writeRows', [keys.results(buildId), keys.build(buildId), keys.failures(buildId)], args);
}
