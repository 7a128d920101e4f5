import type { Redis } from 'ioredis';
import { loadConfig } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { Pool } from '../queue/names';
import type { ObjectStore } from '../storage/objects';
import type { InfraRetryPolicy } from './infra-retry';

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
  /** Run jobs naming user proxy modules (default: ZC_ALLOW_PROXY_MODULES); else their triples fail with the reason. */
  allowProxyModules?: boolean;
  /** Where user modules' bundles are read (`plugins/<sha256>.js`); default: the configured store (S3_ENDPOINT, S3_BUCKET). */
  store?: ObjectStore;
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

export interface WorkerSettings {
  deadline: DeadlinePolicy;
  infraRetry: InfraRetryPolicy;
  resultsHighWater: number;
  backPressurePollMs: number;
  allowProxyModules: boolean;
}

/** The options a caller left out, from the environment (src/config.ts). */
export function workerSettings(opts: WorkerOptions): WorkerSettings {
  const config = loadConfig();
  return {
    deadline: opts.deadline ?? { minSeconds: config.ZC_JOB_DEADLINE_MIN_S, secondsPerGiB: config.ZC_JOB_DEADLINE_S_PER_GIB },
    infraRetry: opts.infraRetry ?? { maxMs: config.ZC_INFRA_RETRY_MAX_S * 1000, capMs: config.ZC_INFRA_RETRY_CAP_S * 1000 },
    resultsHighWater: opts.resultsHighWater ?? config.ZC_RESULTS_HIGH_WATER,
    backPressurePollMs: opts.backPressurePollMs ?? 2000,
    allowProxyModules: opts.allowProxyModules ?? config.ZC_ALLOW_PROXY_MODULES,
  };
}
