import { DelayedError, MetricsTime, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { availableParallelism } from 'os';
import { computeProxies, planJobMemory } from '../core/compute';
import type { ProxyName } from '../core/names';
import type { ComputeRequest, RecomputePolicy } from '../core/types';
import { loadConfig } from '../config';
import { ResourceError } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { isCancelled } from '../queue/build';
import { JOB_NAME, QUEUE_NAMES, type Pool } from '../queue/names';
import { JOB_OPTIONS, openQueue, type ComputeQueue } from '../queue/queues';
import { resultsLength, resultsStreamStats, writeRows } from '../queue/results';
import { JobPayloadSchema, archsOf, describeIssue, isShapeOnly, type JobPayload } from '../queue/schema';
import type { ResultRow } from '../storage/rows';
import { localFingerprint } from '../version';
import { ChildPool } from './child-pool';
import { retryInfrastructure, type InfraRetryPolicy } from './infra-retry';
import { failedRows, rowsFromResult } from './rows';

export interface WorkerOptions {
  pool: Pool;
  connection: Redis;
  /** BullMQ key prefix (ZC_QUEUE_PREFIX). */
  prefix: string;
  /** Jobs in flight. Default: the cores of this machine. */
  concurrency?: number;
  /**
   * Compute children (tensor jobs at once). Default: min(concurrency, cores). A higher concurrency
   * than children keeps shape-only jobs (params, flops) flowing while children are busy.
   */
  children?: number;
  /** A light job whose estimate exceeds this goes to the heavy queue without running. */
  lightBudgetBytes: number;
  /** What one heavy job may use. */
  heavyBudgetBytes: number;
  log: Logger;
  metrics?: Metrics;
  /** A tensor job's deadline (default: ZC_JOB_DEADLINE_MIN_S, ZC_JOB_DEADLINE_S_PER_GIB; see `jobDeadlineMs`). */
  deadline?: DeadlinePolicy;
  /** Retrying Redis (and S3) failures (default: ZC_INFRA_RETRY_MAX_S, ZC_INFRA_RETRY_CAP_S). */
  infraRetry?: InfraRetryPolicy;
  /** Results-stream entries of a build above which its jobs wait (default: ZC_RESULTS_HIGH_WATER). */
  resultsHighWater?: number;
  /** How often a waiting job looks at the stream again, ms (default 2000). */
  backPressurePollMs?: number;
  /** The compute children's module (default: ./child); fault tests give a wrapper of it. */
  childModule?: string;
  /** The compute fingerprint this worker computes with (default: this process's, src/version.ts); it refuses jobs of another. */
  fingerprint?: string;
}

export interface DeadlinePolicy {
  minSeconds: number;
  secondsPerGiB: number;
}

/**
 * A tensor job's deadline: `secondsPerGiB` per GiB of its memory plan (the work of a job grows
 * with the activations it keeps), at least `minSeconds`. Past it the child is killed and the job
 * retried as any transient failure, with the reason `timeout after N s`.
 */
export function jobDeadlineMs(plannedBytes: number, policy: DeadlinePolicy): number {
  return 1000 * Math.max(policy.minSeconds, (policy.secondsPerGiB * plannedBytes) / 2 ** 30);
}

export interface WorkerStats {
  /** Jobs whose triples this worker computed (rows written), in-process or in a child. */
  jobsComputed: number;
  triplesOk: number;
  triplesFailed: number;
  /** Light jobs handed to the heavy queue. */
  movedToHeavy: number;
  /** Jobs that waited for their build's results stream to drain below the high-water mark. */
  pausedForBackPressure: number;
  /** Triples computed per proxy. */
  byProxy: Partial<Record<ProxyName, number>>;
}

export interface PipelineWorker {
  readonly pool: Pool;
  readonly worker: Worker<JobPayload>;
  /** Compute children; emits `job-start` ({pid, jobId}). */
  readonly children: ChildPool;
  readonly stats: WorkerStats;
  /** Finish the jobs in hand, then stop (what SIGTERM does). */
  close(): Promise<void>;
}

/** Error classes that say the input is wrong: retrying cannot help. */
const INPUT_ERRORS = new Set(['InputError', 'FormatError', 'NotFoundError', 'IntegrityError']);

/** How engines report exhausted memory: V8 heap, ArrayBuffer allocation, wasm memory growth. */
const OOM_PATTERN = /out of memory|allocation failed|Cannot enlarge memory|heap limit|Array buffer allocation/i;

function isMemoryError(err: unknown): boolean {
  const e = err as Error;
  return e instanceof ResourceError || e?.name === 'ResourceError' || OOM_PATTERN.test(e?.message ?? '');
}

function isInputError(err: unknown): boolean {
  return INPUT_ERRORS.has((err as Error)?.name);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function mb(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** Errors after which nothing is left to record: the rows are written, or the payload names no valid triple. */
const accounted = new WeakSet<object>();

export type JobOutcome = { ok: number; failed: number; batchSize: number } | { movedTo: Pool; reason: string } | { skipped: 'build cancelled' };

/**
 * A BullMQ worker of one pool. Every triple it takes ends as a row in the results stream: `ok`
 * with score and time, or `failed` with the reason; or its message moves to the heavy queue.
 */
export function startWorker(opts: WorkerOptions): PipelineWorker {
  const { pool, connection, prefix, log } = opts;
  const settings = workerSettings(opts);
  const budget = pool === 'light' ? opts.lightBudgetBytes : opts.heavyBudgetBytes;
  const concurrency = opts.concurrency ?? availableParallelism();
  const children = new ChildPool({ size: opts.children ?? Math.min(concurrency, availableParallelism()), memoryLimitBytes: budget, log, module: opts.childModule });
  const heavyQueue: ComputeQueue | undefined = pool === 'light' ? openQueue('heavy', connection, prefix) : undefined;
  const stats: WorkerStats = { jobsComputed: 0, triplesOk: 0, triplesFailed: 0, movedToHeavy: 0, pausedForBackPressure: 0, byProxy: {} };
  const fingerprint = opts.fingerprint ?? localFingerprint().id;
  const infra = <T>(what: string, op: () => Promise<T>) => retryInfrastructure(what, op, settings.infraRetry, log);
  opts.metrics?.collectResultsStreams(() => resultsStreamStats(connection, prefix));
  let closing = false;

  const record = async (p: JobPayload, rows: ResultRow[]) => {
    const outcome = await infra(`write ${rows.length} rows of build ${p.buildId}`, () => writeRows(connection, prefix, p.buildId, rows));
    if (outcome !== 'written') {
      // Nobody waits for these rows: the build was published (or removed) while the job ran.
      log.warn({ pool, buildId: p.buildId, rows: rows.length, outcome }, `rows dropped: the build is ${outcome === 'published' ? 'already published' : 'not in Redis'}`);
      return;
    }
    for (const row of rows) {
      if (row.status === 'ok') {
        stats.triplesOk++;
        opts.metrics?.tripleDone({ space: row.space, task: row.task, proxy: row.proxy, seconds: row.time! });
      } else {
        stats.triplesFailed++;
        opts.metrics?.tripleFailed({ space: row.space, task: row.task, proxy: row.proxy, reason: row.reason ?? 'unknown' });
      }
      stats.byProxy[row.proxy] = (stats.byProxy[row.proxy] ?? 0) + 1;
    }
  };

  const request = (p: JobPayload, arch: string, batchSize: number, recompute: RecomputePolicy = 'auto'): ComputeRequest => ({
    space: p.space,
    task: p.task,
    arch,
    proxies: p.proxies,
    seed: p.seed,
    batchSize,
    data: p.data,
    recompute,
  });

  /**
   * Back-pressure: while the build's results stream holds `resultsHighWater` entries (its
   * aggregator is down or behind), hold the job — no attempt spent — and look again every poll.
   */
  const waitForRoom = async (job: Job<JobPayload>, token: string | undefined, buildId: string, jlog: Logger) => {
    let paused = false;
    for (;;) {
      const length = await infra(`read the results stream length of build ${buildId}`, () => resultsLength(connection, prefix, buildId));
      if (length < settings.resultsHighWater) break;
      if (!paused) {
        paused = true;
        stats.pausedForBackPressure++;
        jlog.warn({ length, highWater: settings.resultsHighWater }, 'results stream above its high-water mark: job waits for the aggregator');
      }
      if (closing) {
        // Shutting down: hand the job back (delayed; not a failed attempt) instead of holding it.
        await job.moveToDelayed(Date.now() + settings.backPressurePollMs, token);
        throw new DelayedError();
      }
      await new Promise((r) => setTimeout(r, settings.backPressurePollMs));
    }
    if (paused) jlog.info('results stream below its high-water mark: job resumes');
  };

  const processJob = async (job: Job<JobPayload>, token?: string): Promise<JobOutcome> => {
    const parsed = JobPayloadSchema.safeParse(job.data);
    if (!parsed.success) {
      // No valid triple to write a row for: the job itself fails, with the reason `status` shows.
      const reason = `malformed job payload: ${describeIssue(parsed.error.issues[0]!)}`;
      log.error({ pool, jobId: job.id, reason }, 'job failed');
      throw marked(new UnrecoverableError(reason));
    }
    const p = parsed.data;
    const archs = archsOf(p);
    const jlog = log.child({
      pool,
      buildId: p.buildId,
      jobId: job.id,
      space: p.space,
      task: p.task,
      ...(p.arch !== undefined ? { arch: p.arch } : { archs: archs.length, firstArch: archs[0] }),
      proxies: p.proxies.join(','),
      seed: p.seed,
    });
    if (await isCancelled(connection, prefix, p.buildId)) {
      jlog.info('build cancelled: job skipped');
      return { skipped: 'build cancelled' };
    }
    await waitForRoom(job, token, p.buildId, jlog);

    const fail = async (reason: string, batchSize = p.batchSize): Promise<Error> => {
      await record(p, failedRows(p, reason, batchSize));
      stats.jobsComputed++;
      jlog.warn({ reason, batchSize }, 'triples failed');
      return marked(new UnrecoverableError(reason));
    };

    const moveToHeavy = async (reason: string): Promise<JobOutcome> => {
      const route = [...(p.route ?? []), `${pool}: ${reason}`];
      // Same job id: a redelivered light job cannot put the message on the heavy queue twice.
      await infra(`move job ${job.id} to the heavy queue`, () => heavyQueue!.add(JOB_NAME, { ...p, route }, { ...JOB_OPTIONS, jobId: job.id! }));
      stats.movedToHeavy++;
      jlog.info({ reason }, 'moved to the heavy queue');
      return { movedTo: 'heavy', reason };
    };

    // Code of another fingerprint would compute other scores under the build's triple ids (a rolling update).
    if (p.fingerprint !== fingerprint) {
      throw await fail(`code fingerprint mismatch: the build expects ${p.fingerprint}, this worker computes with ${fingerprint}`);
    }

    const lastAttempt = () => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const retryOrFail = async (err: unknown, batchSize: number): Promise<Error> => {
      if (lastAttempt()) return fail(`failed after ${job.opts.attempts ?? 1} attempts: ${message(err)}`, batchSize);
      jlog.warn({ err: message(err), attempt: job.attemptsMade + 1, attempts: job.opts.attempts ?? 1 }, 'transient failure: will retry with back-off');
      return err as Error;
    };

    if (isShapeOnly(p.proxies)) {
      // In this process, every architecture of the message; no memory estimate (no tensors: it would cost as much as the job).
      const rows: ResultRow[] = [];
      let inputFailures = 0;
      try {
        for (const arch of archs) {
          try {
            rows.push(...rowsFromResult(p, arch, await computeProxies(request(p, arch, p.batchSize))));
          } catch (err) {
            if (!isInputError(err)) throw err;
            inputFailures++;
            rows.push(...failedRows(p, `invalid input: ${message(err)}`, p.batchSize, [arch]));
          }
        }
      } catch (err) {
        throw await retryOrFail(err, p.batchSize);
      }
      await record(p, rows);
      stats.jobsComputed++;
      const ok = rows.filter((r) => r.status === 'ok').length;
      // These finish by the thousand per second: debug lines (tensor jobs' are info).
      jlog.debug({ ok, failed: rows.length - ok }, 'triples done');
      // Nothing computable in the message: the job fails (once) with the reason, like a tensor job's.
      if (inputFailures === archs.length) throw marked(new UnrecoverableError(rows[0]!.reason!));
      return { ok, failed: rows.length - ok, batchSize: p.batchSize };
    }

    // Tensor work: one architecture per message, computed in a child.
    const arch = p.arch!;
    // A job over the budget first recomputes its backward passes' segments (same values, less memory);
    // only a job that still does not fit moves to the heavy pool, and there runs at half the batch.
    const plan = (batchSize: number) => planJobMemory({ space: p.space, task: p.task, arch, batchSize, proxies: p.proxies }, budget);
    let chosen: ReturnType<typeof plan>;
    try {
      chosen = plan(p.batchSize);
    } catch (err) {
      if (isInputError(err)) throw await fail(`invalid input: ${message(err)}`);
      throw await retryOrFail(err, p.batchSize);
    }
    const needed = chosen.needed;
    const deadlineMs = jobDeadlineMs(needed, settings.deadline);
    let recompute = chosen.recompute;
    let batchSize = p.batchSize;
    if (pool === 'light' && needed > budget) {
      return moveToHeavy(`estimated ${mb(needed)} MB > light budget ${mb(budget)} MB`);
    }
    if (pool === 'heavy' && needed > budget) {
      const half = Math.floor(batchSize / 2);
      const halfPlan = half >= 1 ? plan(half) : null;
      if (!halfPlan || halfPlan.needed > budget) {
        throw await fail(`out of memory: needs an estimated ${mb(needed)} MB > heavy budget ${mb(budget)} MB, also at batch size ${half}`);
      }
      jlog.warn({ neededMb: mb(needed), budgetMb: mb(budget), batchSize: half }, 'over the heavy budget: running at half the batch size');
      batchSize = half;
      recompute = halfPlan.recompute;
    }

    for (;;) {
      try {
        jlog.debug({ batchSize }, 'computing');
        const result = await children.run(request(p, arch, batchSize, recompute), job.id!, { deadlineMs });
        const rows = rowsFromResult(p, arch, { ...result, batchSize });
        await record(p, rows);
        stats.jobsComputed++;
        const ok = rows.filter((r) => r.status === 'ok').length;
        jlog.info({ batchSize, ok, failed: rows.length - ok, backend: result.backend }, 'triples done');
        return { ok, failed: rows.length - ok, batchSize };
      } catch (err) {
        if (accounted.has(err as object)) throw err;
        if (isMemoryError(err)) {
          if (pool === 'light') return moveToHeavy(`out of memory: ${message(err)}`);
          // The last retry on the heavy pool: half the batch, recorded in the rows.
          if (batchSize === p.batchSize && batchSize >= 2) {
            batchSize = Math.floor(batchSize / 2);
            jlog.warn({ err: message(err), batchSize }, 'out of memory on the heavy pool: retrying at half the batch size');
            continue;
          }
          throw await fail(`out of memory on the heavy pool at batch size ${batchSize}: ${message(err)}`, batchSize);
        }
        if (isInputError(err)) throw await fail(`invalid input: ${message(err)}`);
        throw await retryOrFail(err, batchSize);
      }
    }
  };

  const worker = new Worker<JobPayload, JobOutcome>(QUEUE_NAMES[pool], processJob, {
    connection,
    prefix,
    concurrency,
    // Lock renewal runs in this process while a child computes, so long jobs keep their lock.
    lockDuration: 60_000,
    maxStalledCount: 2,
    metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
  });

  // A job can also fail outside the processor: BullMQ fails a job that stalled too often (its
  // worker died each time). Its triples still need rows, or the build would wait for them forever.
  // BullMQ has failed it already; the rows are written with the infrastructure retries, and close() waits for them.
  const lateRows = new Set<Promise<void>>();
  worker.on('failed', (job, err) => {
    if (!job || !job.finishedOn || accounted.has(err)) return;
    const parsed = JobPayloadSchema.safeParse(job.data);
    if (!parsed.success) return;
    const written = record(parsed.data, failedRows(parsed.data, `job failed: ${err.message}`))
      .catch((e: unknown) => log.error({ pool, jobId: job.id, err: message(e) }, 'could not write failed rows'))
      .finally(() => lateRows.delete(written));
    lateRows.add(written);
  });
  worker.on('error', (err) => log.error({ pool, err: message(err) }, 'worker error'));

  return {
    pool,
    worker,
    children,
    stats,
    async close() {
      closing = true;
      await worker.close();
      await Promise.all(lateRows);
      await children.close();
      await heavyQueue?.close();
    },
  };
}

interface WorkerSettings {
  deadline: DeadlinePolicy;
  infraRetry: InfraRetryPolicy;
  resultsHighWater: number;
  backPressurePollMs: number;
}

/** The options a caller left out, from the environment (src/config.ts). */
function workerSettings(opts: WorkerOptions): WorkerSettings {
  const config = loadConfig();
  return {
    deadline: opts.deadline ?? { minSeconds: config.ZC_JOB_DEADLINE_MIN_S, secondsPerGiB: config.ZC_JOB_DEADLINE_S_PER_GIB },
    infraRetry: opts.infraRetry ?? { maxMs: config.ZC_INFRA_RETRY_MAX_S * 1000, capMs: config.ZC_INFRA_RETRY_CAP_S * 1000 },
    resultsHighWater: opts.resultsHighWater ?? config.ZC_RESULTS_HIGH_WATER,
    backPressurePollMs: opts.backPressurePollMs ?? 2000,
  };
}

function marked<E extends Error>(err: E): E {
  accounted.add(err);
  return err;
}
