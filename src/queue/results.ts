import type { Redis } from 'ioredis';
import type { ResultRow } from '../storage/rows';
import { redisKeys } from './names';

/** Longest failure reason kept as a key of the failures hash (the row keeps the whole reason). */
const REASON_KEY_MAX = 160;

/**
 * Append finished triples to the build's results stream (field `row` = JSON ResultRow) and bump
 * the build's counters, in one transaction: a row is durable in Redis before its job completes.
 */
export async function writeRows(redis: Redis, buildId: string, rows: readonly ResultRow[]): Promise<void> {
  if (rows.length === 0) return;
  const stream = redisKeys.results(buildId);
  const build = redisKeys.build(buildId);
  const now = String(Date.now());
  const tx = redis.multi();
  let ok = 0;
  for (const row of rows) {
    tx.xadd(stream, '*', 'row', JSON.stringify(row));
    if (row.status === 'ok') ok++;
    else tx.hincrby(redisKeys.failures(buildId), (row.reason ?? 'unknown').slice(0, REASON_KEY_MAX), 1);
  }
  if (ok > 0) tx.hincrby(build, 'rowsOk', ok);
  if (rows.length > ok) tx.hincrby(build, 'rowsFailed', rows.length - ok);
  tx.hsetnx(build, 'firstRowAt', now);
  tx.hset(build, 'lastRowAt', now);
  const replies = await tx.exec();
  const failed = replies?.find(([err]) => err);
  if (!replies || failed) throw failed?.[0] ?? new Error(`results stream ${stream}: transaction aborted`);
}
