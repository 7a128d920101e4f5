import type { Redis } from 'ioredis';
import type { ColumnName, SpaceName, TaskName } from '../core/names';
import { NotFoundError } from '../errors';
import { redisKeys } from './names';

/**
 * A build's record in Redis (`<prefix>:zc:<buildId>:build`, a hash). The producer creates it; workers bump the
 * row counters; the aggregator records progress and the published version.
 */
export type BuildState = 'producing' | 'enqueued' | 'published' | 'cancelled';

/** Triples a build computes for one (space, task, proxy): the manifest's coverage denominator. */
export interface ExpectedCount {
  space: SpaceName;
  task: TaskName;
  proxy: ColumnName;
  count: number;
}

export interface BuildRecord {
  buildId: string;
  dataset: string;
  /** The normalised build spec, JSON. */
  spec: string;
  createdAt: number;
  baseVersion?: string;
  /** The compute fingerprint the build's jobs carry (workers of another one refuse them). */
  fingerprint: string;
  /** What a base version's rows may be reused from: the same fingerprint only, or any. */
  reuse: 'same-code' | 'any-code';
  /** The build's user proxy modules (column, spec file, bundle sha256): what its manifest records. */
  modules?: { name: string; file: string; sha256: string }[];
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
  /** Stream entries the aggregator could not take as rows (malformed rows became failed rows). */
  rejectedEntries: number;
  version?: string;
  publishedAt?: number;
  cancelledAt?: number;
}

/** Create the record, or keep an existing one (a rerun of the producer on the same spec). */
export async function createBuild(
  redis: Redis,
  prefix: string,
  b: {
    buildId: string;
    dataset: string;
    spec: string;
    baseVersion?: string;
    fingerprint: string;
    reuse: BuildRecord['reuse'];
    modules?: BuildRecord['modules'];
  },
): Promise<void> {
  const keys = redisKeys(prefix);
  const key = keys.build(b.buildId);
  const fields: Record<string, string> = {
    buildId: b.buildId,
    dataset: b.dataset,
    spec: b.spec,
    createdAt: String(Date.now()),
    state: 'producing',
    fingerprint: b.fingerprint,
    reuse: b.reuse,
  };
  if (b.baseVersion) fields.baseVersion = b.baseVersion;
  if (b.modules?.length) fields.modules = JSON.stringify(b.modules);
  const tx = redis.multi();
  // HSETNX field by field: a rerun must not reset a build that is already enqueued or published.
  for (const [f, v] of Object.entries(fields)) tx.hsetnx(key, f, v);
  tx.sadd(keys.builds, b.buildId);
  await tx.exec();
}

export async function markEnqueued(redis: Redis, prefix: string, buildId: string, expectedBy: ExpectedCount[]): Promise<void> {
  const key = redisKeys(prefix).build(buildId);
  const state = await redis.hget(key, 'state');
  const expected = expectedBy.reduce((n, e) => n + e.count, 0);
  const fields: Record<string, string> = { expected: String(expected), expectedBy: JSON.stringify(expectedBy) };
  if (state !== 'published' && state !== 'cancelled') fields.state = 'enqueued';
  await redis.hset(key, fields);
}

export async function readBuild(redis: Redis, prefix: string, buildId: string): Promise<BuildRecord> {
  const h = await redis.hgetall(redisKeys(prefix).build(buildId));
  if (!h.buildId) throw new NotFoundError(`build ${JSON.stringify(buildId)} not found in Redis`);
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  return {
    buildId: h.buildId,
    dataset: h.dataset!,
    spec: h.spec!,
    createdAt: Number(h.createdAt),
    baseVersion: h.baseVersion,
    fingerprint: h.fingerprint ?? '',
    reuse: h.reuse === 'any-code' ? 'any-code' : 'same-code',
    modules: h.modules ? (JSON.parse(h.modules) as BuildRecord['modules']) : undefined,
    state: h.state as BuildState,
    expected: num(h.expected),
    expectedBy: h.expectedBy ? (JSON.parse(h.expectedBy) as ExpectedCount[]) : undefined,
    rowsOk: num(h.rowsOk) ?? 0,
    rowsFailed: num(h.rowsFailed) ?? 0,
    firstRowAt: num(h.firstRowAt),
    lastRowAt: num(h.lastRowAt),
    aggregated: num(h.aggregated) ?? 0,
    rejectedEntries: num(h.rejectedEntries) ?? 0,
    version: h.version,
    publishedAt: num(h.publishedAt),
    cancelledAt: num(h.cancelledAt),
  };
}

/**
 * Mark a build cancelled (`zcbench cancel`): workers skip its jobs, the aggregator does not publish
 * it. A published build stays published. Returns the state it had.
 */
export async function markCancelled(redis: Redis, prefix: string, buildId: string): Promise<BuildState> {
  const { state } = await readBuild(redis, prefix, buildId);
  if (state !== 'published' && state !== 'cancelled')
    await redis.hset(redisKeys(prefix).build(buildId), { state: 'cancelled', cancelledAt: String(Date.now()) });
  return state;
}

/** Whether an operator cancelled the build. */
export async function isCancelled(redis: Redis, prefix: string, buildId: string): Promise<boolean> {
  return (await redis.hget(redisKeys(prefix).build(buildId), 'state')) === 'cancelled';
}

export async function listBuildIds(redis: Redis, prefix: string): Promise<string[]> {
  return (await redis.smembers(redisKeys(prefix).builds)).sort();
}

/** Failure reason → count of failed triples (worker-side counts). */
export async function readFailures(redis: Redis, prefix: string, buildId: string): Promise<Record<string, number>> {
  const h = await redis.hgetall(redisKeys(prefix).failures(buildId));
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)]));
}
