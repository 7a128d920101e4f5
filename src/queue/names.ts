/**
 * Queue names and Redis keys of the pipeline (contract: docs/architecture.md, "Queues and Redis keys").
 * Every module that touches these keys builds them here.
 */

/** Worker pools; each has one BullMQ queue. Light jobs fit ZC_WORKER_MEMORY_MB, heavy ones do not. */
export const POOLS = ['light', 'heavy'] as const;
export type Pool = (typeof POOLS)[number];

export const QUEUE_NAMES: Record<Pool, string> = { light: 'zc-light', heavy: 'zc-heavy' };

/** BullMQ job name of every compute message. */
export const JOB_NAME = 'compute';

/** Consumer group of the results streams. */
export const AGGREGATOR_GROUP = 'aggregator';

/**
 * The pipeline's own keys of one deployment: all under its ZC_QUEUE_PREFIX, beside BullMQ's
 * (`<prefix>:zc-light:…`), so two deployments sharing a Redis never see each other's builds.
 */
export function redisKeys(prefix: string) {
  const zc = `${prefix}:zc`;
  return {
    /** Set of every build id the producer created. */
    builds: `${zc}:builds`,
    /** Stream of finished triples: field `row` = JSON ResultRow. */
    results: (buildId: string) => `${zc}:${buildId}:results`,
    /** Hash: spec, expected, createdAt, baseVersion, state, counters (see src/queue/build.ts). */
    build: (buildId: string) => `${zc}:${buildId}:build`,
    /** Set of job ids the producer has enqueued for the build (survives BullMQ's removal of finished jobs). */
    enqueued: (buildId: string) => `${zc}:${buildId}:enqueued`,
    /** Hash: failure reason → count of failed triples, for `zcbench status`. */
    failures: (buildId: string) => `${zc}:${buildId}:failures`,
    /** One publisher per dataset at a time. */
    publishLock: (dataset: string) => `${zc}:lock:publish:${dataset}`,
    /** One aggregator per build at a time. */
    aggregateLock: (buildId: string) => `${zc}:lock:aggregate:${buildId}`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
