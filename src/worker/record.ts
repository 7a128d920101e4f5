import { writeRows } from '../queue/results';
import type { JobPayload } from '../queue/schema';
import type { ResultRow } from '../storage/rows';
import type { WorkerContext } from './context';

/** Write a job's rows to its build's results stream (through outages), and count them. */
export async function recordRows(ctx: WorkerContext, p: JobPayload, rows: ResultRow[]): Promise<void> {
  const { connection, prefix, stats, metrics } = ctx;
  const outcome = await ctx.infra(`write ${rows.length} rows of build ${p.buildId}`, () => writeRows(connection, prefix, p.buildId, rows));
  if (outcome !== 'written') {
    // Nobody waits for these rows: the build was published (or removed) while the job ran.
    ctx.log.warn(
      { pool: ctx.pool, buildId: p.buildId, rows: rows.length, outcome },
      `rows dropped: the build is ${outcome === 'published' ? 'already published' : 'not in Redis'}`,
    );
    return;
  }
  for (const row of rows) {
    if (row.status === 'ok') {
      stats.triplesOk++;
      metrics?.tripleDone({ space: row.space, task: row.task, proxy: row.proxy, seconds: row.time! });
    } else {
      stats.triplesFailed++;
      metrics?.tripleFailed({ space: row.space, task: row.task, proxy: row.proxy, reason: row.reason ?? 'unknown' });
    }
    stats.byProxy[row.proxy] = (stats.byProxy[row.proxy] ?? 0) + 1;
  }
}
