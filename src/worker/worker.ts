import { MetricsTime, Worker, type Job } from 'bullmq';
import { availableParallelism } from 'os';
import { QUEUE_NAMES, type Pool } from '../queue/names';
import { openQueue } from '../queue/queues';
import { resultsStreamStats } from '../queue/results';
import { JobPayloadSchema, isShapeOnly, type JobPayload } from '../queue/schema';
import type { ObjectStore } from '../storage/objects';
import { openStore } from '../storage/store';
import { localFingerprint } from '../version';
import { waitForRoom } from './back-pressure';
import { ChildPool } from './child-pool';
import type { JobOutcome, WorkerContext, WorkerStats } from './context';
import { isAccounted, message } from './failures';
import { retryInfrastructure } from './infra-retry';
import { takeJob } from './intake';
import { JobRun } from './job-run';
import { workerSettings, type WorkerOptions } from './options';
import { recordRows } from './record';
import { failedRows } from './rows';
import { runShapeOnly } from './shape-only';
import { runTensorJob } from './tensor-job';

export type { JobOutcome, WorkerStats } from './context';
export { jobDeadlineMs, type DeadlinePolicy, type WorkerOptions } from './options';

export interface PipelineWorker {
  readonly pool: Pool;
  readonly worker: Worker<JobPayload>;
  /** Compute children; emits `job-start` ({pid, jobId}). */
  readonly children: ChildPool;
  readonly stats: WorkerStats;
  /** Finish the jobs in hand, then stop (what SIGTERM does). */
  close(): Promise<void>;
}

/**
 * One job: taken (validated; skipped if its build was cancelled), held while its build's results
 * stream is full, refused if its build wants another code fingerprint, then computed: shape-only
 * proxies here, tensor work in a child after routing it by its memory plan.
 */
async function processJob(ctx: WorkerContext, job: Job<JobPayload>, token?: string): Promise<JobOutcome> {
  const intake = await takeJob(ctx, job);
  if ('skipped' in intake) return intake;
  await waitForRoom(ctx, job, token, intake.payload.buildId, intake.log);
  const run = new JobRun(ctx, job, intake.payload, intake.log);
  await run.refuseOtherFingerprint();
  // A module's code may read anything: it runs in a compute child, with the job's proxies.
  if (run.p.modules) {
    await run.fetchModules();
    return runTensorJob(run);
  }
  return isShapeOnly(run.p.proxies) ? runShapeOnly(run) : runTensorJob(run);
}

/**
 * A job can also fail outside the processor: BullMQ fails a job that stalled too often (its worker
 * died each time). Its triples still need rows, or the build would wait for them forever. BullMQ
 * has failed it already; the rows are written with the infrastructure retries. Returns the writes
 * in flight (close() waits for them).
 */
function recordFailuresOutsideJobs(ctx: WorkerContext, worker: Worker<JobPayload, JobOutcome>): Set<Promise<void>> {
  const lateRows = new Set<Promise<void>>();
  worker.on('failed', (job, err) => {
    if (!job || !job.finishedOn || isAccounted(err)) return;
    const parsed = JobPayloadSchema.safeParse(job.data);
    if (!parsed.success) return;
    const written = recordRows(ctx, parsed.data, failedRows(parsed.data, `job failed: ${err.message}`))
      .catch((e: unknown) => ctx.log.error({ pool: ctx.pool, jobId: job.id, err: message(e) }, 'could not write failed rows'))
      .finally(() => lateRows.delete(written));
    lateRows.add(written);
  });
  return lateRows;
}

/**
 * A BullMQ worker of one pool. Every triple it takes ends as a row in the results stream: `ok`
 * with score and time, or `failed` with the reason; or its message moves to the heavy queue.
 */
export function startWorker(opts: WorkerOptions): PipelineWorker {
  const { pool, connection, prefix, log } = opts;
  const settings = workerSettings(opts);
  const budget = pool === 'light' ? opts.lightBudgetBytes : opts.heavyBudgetBytes;
  const concurrency = opts.concurrency ?? availableParallelism();
  let closing = false;
  let store: ObjectStore | undefined;
  const ctx: WorkerContext = {
    pool,
    connection,
    prefix,
    log,
    metrics: opts.metrics,
    settings,
    budget,
    fingerprint: opts.fingerprint ?? localFingerprint().id,
    children: new ChildPool({ size: opts.children ?? Math.min(concurrency, availableParallelism()), memoryLimitBytes: budget, log, module: opts.childModule }),
    heavyQueue: pool === 'light' ? openQueue('heavy', connection, prefix) : undefined,
    stats: { jobsComputed: 0, triplesOk: 0, triplesFailed: 0, movedToHeavy: 0, pausedForBackPressure: 0, byProxy: {} },
    closing: () => closing,
    store: () => (store ??= opts.store ?? openStore()),
    infra: (what, op) => retryInfrastructure(what, op, settings.infraRetry, log),
  };
  opts.metrics?.collectResultsStreams(() => resultsStreamStats(connection, prefix));

  const worker = new Worker<JobPayload, JobOutcome>(QUEUE_NAMES[pool], (job, token) => processJob(ctx, job, token), {
    connection,
    prefix,
    concurrency,
    // Lock renewal runs in this process while a child computes, so long jobs keep their lock.
    lockDuration: 60_000,
    maxStalledCount: 2,
    metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
  });
  const lateRows = recordFailuresOutsideJobs(ctx, worker);
  worker.on('error', (err) => log.error({ pool, err: message(err) }, 'worker error'));

  return {
    pool,
    worker,
    children: ctx.children,
    stats: ctx.stats,
    async close() {
      closing = true;
      await worker.close();
      await Promise.all(lateRows);
      await ctx.children.close();
      await ctx.heavyQueue?.close();
    },
  };
}
