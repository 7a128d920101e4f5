import type { Redis } from 'ioredis';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { Pool } from '../queue/names';
import type { ComputeQueue } from '../queue/queues';
import type { ObjectStore } from '../storage/objects';
import type { ChildPool } from './child-pool';
import type { WorkerSettings } from './options';

export interface WorkerStats {
  /** Jobs whose triples this worker computed (rows written), in-process or in a child. */
  jobsComputed: number;
  triplesOk: number;
  triplesFailed: number;
  /** Light jobs handed to the heavy queue. */
  movedToHeavy: number;
  /** Jobs that waited for their build's results stream to drain below the high-water mark. */
  pausedForBackPressure: number;
  /** Triples computed per column (a built-in proxy, or a user module by name). */
  byProxy: { [column: string]: number };
}

export type JobOutcome = { ok: number; failed: number; batchSize: number } | { movedTo: Pool; reason: string } | { skipped: 'build cancelled' };

/** What the parts of a job's processing share: the worker's pool, connections, settings and counters. */
export interface WorkerContext {
  pool: Pool;
  connection: Redis;
  prefix: string;
  log: Logger;
  metrics?: Metrics;
  settings: WorkerSettings;
  /** What one job of this pool may use, bytes. */
  budget: number;
  /** The compute fingerprint this worker computes with. */
  fingerprint: string;
  children: ChildPool;
  /** The light pool's handle on the heavy queue. */
  heavyQueue?: ComputeQueue;
  stats: WorkerStats;
  /** True once close() has begun. */
  closing(): boolean;
  /** The store user modules' bundles come from, opened on first need. */
  store(): ObjectStore;
  /** `op`, retried through Redis/S3 outages (`infra-retry.ts`). */
  infra<T>(what: string, op: () => Promise<T>): Promise<T>;
}
