import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/queue/connection';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Aggregator, type PublishedBuild } from '../../src/aggregator/aggregator';
import { logger, type Logger } from '../../src/log';
import { produce, type BaseVersion, type ProduceResult } from '../../src/producer/producer';
import { planBuild, type BuildPlan } from '../../src/producer/spec';
import { openQueue } from '../../src/queue/queues';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/storage/embedded';
import type { ObjectStore } from '../../src/storage/objects';
import { openStore, type StoreOptions } from '../../src/storage/store';
import { startWorker, type PipelineWorker, type WorkerOptions } from '../../src/worker/worker';

/** A Redis key prefix no other test (or engineer) uses: BullMQ queues of one test stay apart. */
export function uniquePrefix(tag: string): string {
  return `zct-${tag}-${process.pid}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Poll `probe` every 100 ms until it gives a value; fail naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

export function testRedis(): Promise<Redis> {
  return connectRedis(redisUrl());
}

/** Delete every key of a test: all live under its prefix (BullMQ's and the pipeline's own). */
export async function cleanupRedis(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

// A pipeline in the test process: real Redis, a real S3 API (s3rver), real workers and children.

export const PIPELINE_FIXTURES = join(__dirname, '..', 'fixtures', 'pipeline');

/** Quiet logs: warnings and errors only (the triple is still in every line). */
export function testLog(tag: string): Logger {
  return logger.child({ test: tag }, { level: process.env.LOG_LEVEL ?? 'warn' });
}

export interface TestS3 {
  embedded: EmbeddedS3;
  /** Options reaching the s3rver (the storage layer's openDataset takes these). */
  storeOpts: StoreOptions & { bucket: string };
  store: ObjectStore;
  /** A store on another endpoint (e.g. a proxy in front of the s3rver), same bucket and credentials. */
  storeAt(endpoint: string, retryDeadlineMs?: number): ObjectStore;
  stop(): Promise<void>;
}

export async function startTestS3(tag: string): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), `zct-s3-${tag}-`));
  const embedded = await startEmbeddedS3({ dir, bucket: 'zcbench' });
  const storeOpts = { endpoint: embedded.endpoint, credentials: embedded.credentials, bucket: embedded.bucket };
  return {
    embedded,
    storeOpts,
    store: openStore(storeOpts),
    storeAt: (endpoint, retryDeadlineMs) => openStore({ ...storeOpts, endpoint, retryDeadlineMs }),
    async stop() {
      await embedded.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Harness {
  redis: Redis;
  prefix: string;
  s3: TestS3;
  log: Logger;
  buildIds: string[];
  workers: PipelineWorker[];
  plan(spec: Record<string, unknown>): BuildPlan;
  produce(plan: BuildPlan, base?: BaseVersion): Promise<ProduceResult>;
  startWorker(opts: Partial<WorkerOptions> & Pick<WorkerOptions, 'pool'>): PipelineWorker;
  /** Run an aggregator until these builds are published. */
  aggregate(buildIds: string[], store?: ObjectStore): Promise<PublishedBuild[]>;
  close(): Promise<void>;
}

/** Default budgets: generous light pool (every NB201 job fits), heavy pool 4 GiB. */
export async function startHarness(tag: string): Promise<Harness> {
  const redis = await testRedis();
  const prefix = uniquePrefix(tag);
  const s3 = await startTestS3(tag);
  const log = testLog(tag);
  const buildIds: string[] = [];
  const workers: PipelineWorker[] = [];
  const h: Harness = {
    redis,
    prefix,
    s3,
    log,
    buildIds,
    workers,
    plan(spec) {
      const p = planBuild(spec, PIPELINE_FIXTURES);
      buildIds.push(p.buildId);
      return p;
    },
    async produce(plan, base) {
      const queue = openQueue('light', redis, prefix);
      try {
        return await produce({ redis, queue, plan, base, log });
      } finally {
        await queue.close();
      }
    },
    startWorker(opts) {
      const w = startWorker({
        connection: redis,
        prefix,
        concurrency: 1,
        lightBudgetBytes: 3 * 2 ** 30,
        heavyBudgetBytes: 4 * 2 ** 30,
        log: log.child({ pool: opts.pool }),
        ...opts,
      });
      workers.push(w);
      return w;
    },
    aggregate(ids, store = s3.store) {
      return new Aggregator({ redis, prefix, store, log, buildIds: ids, untilPublished: true, flushIntervalMs: 200 }).run();
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await cleanupRedis(redis, prefix);
      redis.disconnect();
      await s3.stop();
    },
  };
  return h;
}
