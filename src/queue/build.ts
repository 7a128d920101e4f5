import type { Redis } from 'ioredis';
import type { ProxyName, SpaceName, TaskName } from '../core/names';
import { NotFoundError } from '../errors';
import { BUILDS_SET, redisKeys } from './names';

/**
 * A build's record in Redis (`zc:<buildId>:build`, a hash). The producer creates it; workers bump the
 * row counters; the aggregator records progress and the published version.
 */
export type BuildState = 'producing' | 'enqueued' | 'published' | 'cancelled';

/** Triples a build computes for one (space, task, proxy): the manifest's coverage denominator. */
export interface ExpectedCount {
  space: SpaceName;
  task: TaskName;
  proxy: ProxyName;
  count: number;
}

export interface BuildRecord {
  buildId: string;
  dataset: string;
  /** The normalised build spec, JSON. */
  spec: string;
  createdAt: number;
  baseVersion?: string;
  state: BuildState;
  /** Triples this build computes (base-version triples excluded); known once the producer finished. */
  expected?: number;
  expectedBy?: ExpectedCount[];
  /** Rows workers wrote (a redelivered job may count twice: the aggregator's count is exact). */
  rowsOk: number;
  rowsFailed: number;
  firstRowAt?: number;
  lastRowAt?: number;
  /** Distinct triples the aggregator has stored in segments. */
  aggregated: number;
  version?: string;
  publishedAt?: number;
  cancelledAt?: number;
}

/** Create the record, or keep an existing one (a rerun of the producer on the same spec). */
export async function createBuild(redis: Redis, b: { buildId: string; dataset: string; spec: string; baseVersion?: string }): Promise<void> {
  const key = redisKeys.build(b.buildId);
  const fields: Record<string, string> = { buildId: b.buildId, dataset: b.dataset, spec: b.spec, createdAt: String(Date.now()), state: 'producing' };
  if (b.baseVersion) fields.baseVersion = b.baseVersion;
  const tx = redis.multi();
  // HSETNX field by field: a rerun must not reset a build that is already enqueued or published.
  for (const [f, v] of Object.entries(fields)) tx.hsetnx(key, f, v);
  tx.sadd(BUILDS_SET, b.buildId);
  await tx.exec();
}

export async function markEnqueued(redis: Redis, buildId: string, expectedBy: ExpectedCount[]): Promise<void> {
  const key = redisKeys.build(buildId);
  const state = await redis.hget(key, 'state');
  const expected = expectedBy.reduce((n, e) => n + e.count, 0);
  const fields: Record<string, string> = { expected: String(expected), expectedBy: JSON.stringify(expectedBy) };
  if (state !== 'published' && state !== 'cancelled') fields.state = 'enqueued';
  await redis.hset(key, fields);
}

export async function readBuild(redis: Redis, buildId: string): Promise<BuildRecord> {
  const h = await redis.hgetall(redisKeys.build(buildId));
  if (!h.buildId) throw new NotFoundError(`build ${JSON.stringify(buildId)} not found in Redis`);
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  return {
    buildId: h.buildId,
    dataset: h.dataset!,
    spec: h.spec!,
    createdAt: Number(h.createdAt),
    baseVersion: h.baseVersion,
    state: h.state as BuildState,
    expected: num(h.expected),
    expectedBy: h.expectedBy ? (JSON.parse(h.expectedBy) as ExpectedCount[]) : undefined,
    rowsOk: num(h.rowsOk) ?? 0,
    rowsFailed: num(h.rowsFailed) ?? 0,
    firstRowAt: num(h.firstRowAt),
    lastRowAt: num(h.lastRowAt),
    aggregated: num(h.aggregated) ?? 0,
    version: h.version,
    publishedAt: num(h.publishedAt),
    cancelledAt: num(h.cancelledAt),
  };
}

/**
 * Mark a build cancelled (`zcbench cancel`): workers skip its jobs, the aggregator does not publish
 * it. A published build stays published. Returns the state it had.
 */
export async function markCancelled(redis: Redis, buildId: string): Promise<BuildState> {
  const { state } = await readBuild(redis, buildId);
  if (state !== 'published' && state !== 'cancelled') await redis.hset(redisKeys.build(buildId), { state: 'cancelled', cancelledAt: String(Date.now()) });
  return state;
}

/** Whether an operator cancelled the build. */
export async function isCancelled(redis: Redis, buildId: string): Promise<boolean> {
  return (await redis.hget(redisKeys.build(buildId), 'state')) === 'cancelled';
}

export async function listBuildIds(redis: Redis): Promise<string[]> {
  return (await redis.smembers(BUILDS_SET)).sort();
}

/** Failure reason → count of failed triples (worker-side counts). */
export async function readFailures(redis: Redis, buildId: string): Promise<Record<string, number>> {
  const h = await redis.hgetall(redisKeys.failures(buildId));
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)]));
}
