import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_NAME, QUEUE_NAMES, type Pool } from './names';
import type { JobPayload } from './schema';

/**
 * Options of every compute job. Transient failures retry with exponential back-off (2 s, 4 s, 8 s);
 * finished jobs leave Redis at once (their rows are in the results stream); failed jobs stay a week
 * for `zcbench status` and inspection.
 */
export const JOB_OPTIONS: JobsOptions = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

export type ComputeQueue = Queue<JobPayload, unknown, string>;

/** The BullMQ queue of a pool. The connection is shared (BullMQ duplicates it where it blocks). */
export function openQueue(pool: Pool, connection: Redis, prefix: string): ComputeQueue {
  return new Queue<JobPayload, unknown, string>(QUEUE_NAMES[pool], { connection, prefix });
}

/** Add messages with their deterministic ids; BullMQ ignores an id that is already in the queue. */
export async function addJobs(queue: ComputeQueue, jobs: readonly { jobId: string; payload: JobPayload }[]): Promise<void> {
  if (jobs.length === 0) return;
  await queue.addBulk(jobs.map((j) => ({ name: JOB_NAME, data: j.payload, opts: { ...JOB_OPTIONS, jobId: j.jobId } })));
}
