import type { Redis } from 'ioredis';
import { NotFoundError } from '../errors';
import { listBuildIds, readBuild, readFailures, type BuildState } from './build';
import { POOLS, QUEUE_NAMES } from './names';
import { openQueue } from './queues';

export const JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

export interface QueueStatus {
  queue: string;
  counts: Record<(typeof JOB_STATES)[number], number>;
  /** Jobs completed per second over the last 5 minutes (BullMQ's per-minute metrics). */
  completedPerSecond: number;
  /** Failed jobs still kept (a week), by reason. */
  failedByReason: Record<string, number>;
}

export interface BuildStatus {
  buildId: string;
  dataset: string;
  state: BuildState;
  expected?: number;
  ok: number;
  failed: number;
  aggregated: number;
  /** Results-stream entries the aggregator could not take as rows (malformed rows are recorded as failed rows). */
  rejectedEntries: number;
  /** Triples per second, averaged since the build was created (until its last row once published). */
  triplesPerSecond?: number;
  etaSeconds?: number;
  version?: string;
  fingerprint: string;
  failuresByReason: Record<string, number>;
}

/** Failed jobs read per queue for the reason summary. */
const FAILED_SAMPLE = 1000;

export async function queueStatus(redis: Redis, prefix: string): Promise<QueueStatus[]> {
  return Promise.all(
    POOLS.map(async (pool) => {
      const queue = openQueue(pool, redis, prefix);
      try {
        const counts = (await queue.getJobCounts(...JOB_STATES)) as QueueStatus['counts'];
        const metrics = await queue.getMetrics('completed', 0, 4);
        const perMinute = metrics.data.slice(0, 5);
        const completedPerSecond = perMinute.length === 0 ? 0 : perMinute.reduce((a, b) => a + b, 0) / (perMinute.length * 60);
        const failedByReason: Record<string, number> = {};
        for (const job of await queue.getFailed(0, FAILED_SAMPLE - 1)) {
          const reason = job?.failedReason ?? 'unknown';
          failedByReason[reason] = (failedByReason[reason] ?? 0) + 1;
        }
        return { queue: QUEUE_NAMES[pool], counts, completedPerSecond, failedByReason };
      } finally {
        await queue.close();
      }
    }),
  );
}

export async function buildStatus(redis: Redis, prefix: string, buildId: string): Promise<BuildStatus> {
  const b = await readBuild(redis, prefix, buildId);
  const done = b.rowsOk + b.rowsFailed;
  let triplesPerSecond: number | undefined;
  let etaSeconds: number | undefined;
  // Since creation, not since the first row: the first rows arrive together after a whole job's time.
  const end = b.state === 'published' ? (b.lastRowAt ?? Date.now()) : Date.now();
  if (done > 0 && end > b.createdAt) triplesPerSecond = done / ((end - b.createdAt) / 1000);
  if (b.state === 'published') etaSeconds = 0;
  else if (triplesPerSecond && b.expected !== undefined && b.state !== 'cancelled') {
    // Rows written by redelivered jobs may count twice: never below what the aggregator holds.
    const remaining = Math.max(0, b.expected - Math.max(done, b.aggregated));
    etaSeconds = remaining / triplesPerSecond;
  }
  return {
    buildId,
    dataset: b.dataset,
    state: b.state,
    expected: b.expected,
    ok: b.rowsOk,
    failed: b.rowsFailed,
    aggregated: b.aggregated,
    rejectedEntries: b.rejectedEntries,
    triplesPerSecond,
    etaSeconds,
    version: b.version,
    fingerprint: b.fingerprint,
    failuresByReason: await readFailures(redis, prefix, buildId),
  };
}

export async function allBuildStatus(redis: Redis, prefix: string, buildIds?: string[]): Promise<BuildStatus[]> {
  const ids = buildIds ?? (await listBuildIds(redis, prefix));
  const out: BuildStatus[] = [];
  for (const id of ids) {
    try {
      out.push(await buildStatus(redis, prefix, id));
    } catch (err) {
      // A build whose record expired after publishing: nothing to report.
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  return out;
}
