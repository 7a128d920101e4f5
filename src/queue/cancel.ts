import type { Redis } from 'ioredis';
import { markCancelled, type BuildState } from './build';
import { POOLS, type Pool } from './names';
import { openQueue } from './queues';

/** States of jobs no worker holds: these are removed (a running job finishes; its rows are not published). */
const REMOVABLE_STATES = ['waiting', 'delayed', 'prioritized'] as const;
const PAGE = 1000;

export interface CancelResult {
  buildId: string;
  /** The state before cancelling (a published build is left as it is). */
  previousState: BuildState;
  /** Jobs removed from each queue. */
  removed: Record<Pool, number>;
}

/**
 * Cancel a build: mark it first (so workers skip any of its jobs still delivered, and the
 * aggregator does not publish it), then remove its jobs that no worker holds from both queues.
 */
export async function cancelBuild(redis: Redis, prefix: string, buildId: string): Promise<CancelResult> {
  const previousState = await markCancelled(redis, prefix, buildId);
  const removed: Record<Pool, number> = { light: 0, heavy: 0 };
  if (previousState === 'published') return { buildId, previousState, removed };
  for (const pool of POOLS) {
    const queue = openQueue(pool, redis, prefix);
    try {
      // Collect first: removing while paging would shift the pages.
      const ids: string[] = [];
      for (const state of REMOVABLE_STATES) {
        for (let start = 0; ; start += PAGE) {
          const jobs = await queue.getJobs(state, start, start + PAGE - 1, true);
          for (const job of jobs) if (job?.data?.buildId === buildId && job.id) ids.push(job.id);
          if (jobs.length < PAGE) break;
        }
      }
      for (const id of ids) removed[pool] += await queue.remove(id);
    } finally {
      await queue.close();
    }
  }
  return { buildId, previousState, removed };
}
