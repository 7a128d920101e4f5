import { readDataManifest } from '../storage/data-sets';
import { createHash } from 'crypto';
import type { Redis } from 'ioredis';
import { InputError } from '../errors';
import type { Logger } from '../log';
import { withProxyModules } from '../producer/modules';
import type { BuildPlan } from '../producer/spec';
import { redisKeys } from '../queue/names';
import { datasetKeys, NAME_PATTERN, parseManifest } from '../storage/manifest';
import type { ObjectStore } from '../storage/objects';
import { storeIdentity } from '../storage/identity';
import { storedTripleIds } from './segments';

/**
 * A build belongs to one store: its derived id includes the store's identity (the same spec on a
 * fresh store is a new build), its Redis record names the store, and what Redis says about it is
 * checked against that store before anyone trusts it.
 */
export async function bindPlanToStore(plan: BuildPlan, store: ObjectStore): Promise<BuildPlan> {
  // An id the spec or --build-id fixed is the operator's: kept as given.
  if (plan.spec.buildId !== undefined) return plan;
  const storeId = await storeIdentity(store);
  const bound = createHash('sha256').update(`${plan.buildId}\u0000${storeId}`).digest('hex').slice(0, 12);
  return { ...plan, buildId: `${plan.spec.dataset}-${bound}` };
}

/** A plan whose data names a data set, with its manifest (read once, here, before anything is enqueued). */
export async function withDataSet(plan: BuildPlan, store: ObjectStore): Promise<BuildPlan> {
  if (plan.data.source !== 'dataset' || plan.dataSet) return plan;
  return { ...plan, dataSet: await readDataManifest(store, plan.data.dataset) };
}

/** Field of the build hash naming the store it publishes to. */
const STORE_FIELD = 'store';

/** The build's store id per Redis (undefined for builds recorded before stores were named). */
export async function buildStoreOf(redis: Redis, prefix: string, buildId: string): Promise<string | undefined> {
  return (await redis.hget(redisKeys(prefix).build(buildId), STORE_FIELD)) ?? undefined;
}

/** The version the store published the build as (its marker names a version whose manifest is this build's), if any. */
export async function publishedVersionInStore(store: ObjectStore, dataset: string, buildId: string): Promise<string | undefined> {
  const marker = await store.getKey(datasetKeys.build(dataset, buildId));
  if (marker === null) return undefined;
  let version: unknown;
  try {
    version = (JSON.parse(marker.toString('utf8')) as { version?: unknown }).version;
  } catch {
    return undefined;
  }
  if (typeof version !== 'string' || !NAME_PATTERN.test(version)) return undefined;
  const key = datasetKeys.manifest(dataset, version);
  const bytes = await store.getKey(key);
  return bytes !== null && parseManifest(bytes, key).buildId === buildId ? version : undefined;
}

/** Whether the store holds the build's published manifest. */
export async function publishedInStore(store: ObjectStore, dataset: string, buildId: string): Promise<boolean> {
  return (await publishedVersionInStore(store, dataset, buildId)) !== undefined;
}

/**
 * Redis lost the record of a build the store has published (a flush, a restart without
 * persistence) and the producer runs again: record it published, so that nothing waits for a build
 * no aggregator will take again (one that published it keeps it as finished).
 */
async function recordPublishedFromStore(redis: Redis, prefix: string, store: ObjectStore, plan: BuildPlan, log: Logger): Promise<void> {
  const key = redisKeys(prefix).build(plan.buildId);
  if ((await redis.exists(key)) === 1) return;
  const version = await publishedVersionInStore(store, plan.spec.dataset, plan.buildId);
  if (version === undefined) return;
  log.info({ buildId: plan.buildId, dataset: plan.spec.dataset, version }, "the store holds this build's published version: recorded as published in Redis");
  await redis.hset(key, { state: 'published', version, publishedAt: String(Date.now()) });
}

/**
 * Redis says published but the store lacks the version: open the build again, so the aggregator
 * publishes it from its segments and the producer enqueues what they lack. Returns whether it did.
 */
export async function reopenIfUnpublished(redis: Redis, prefix: string, store: ObjectStore, buildId: string, log: Logger): Promise<boolean> {
  const key = redisKeys(prefix).build(buildId);
  const [state, dataset] = await redis.hmget(key, 'state', 'dataset');
  if (state !== 'published' || !dataset || (await publishedInStore(store, dataset, buildId))) return false;
  log.warn({ buildId, dataset, bucket: store.bucket }, 'Redis records the build as published, but the store lacks its version: publishing it again');
  await redis.multi().hset(key, 'state', 'enqueued').hdel(key, 'version', 'publishedAt').persist(key).del(redisKeys(prefix).enqueued(buildId)).exec();
  return true;
}

export interface PreparedBuild {
  /** The plan with its build id bound to the store. */
  plan: BuildPlan;
  /** Triples the build's segments in this store already hold: the producer does not enqueue them again. */
  stored: Set<string>;
}

/**
 * Before a (re)run of the producer: load and store its proxy modules, bind the build to the store,
 * open it again if Redis says published but the store lacks it, and read what the store already
 * holds (after Redis lost its data, only the missing triples are computed again).
 */
export async function prepareBuild(redis: Redis, prefix: string, store: ObjectStore, plan: BuildPlan, log: Logger): Promise<PreparedBuild> {
  const bound = await bindPlanToStore(await withProxyModules(await withDataSet(plan, store), store), store);
  const storeId = await storeIdentity(store);
  const recorded = await buildStoreOf(redis, prefix, bound.buildId);
  if (recorded !== undefined && recorded !== storeId) {
    throw new InputError(
      'build id',
      bound.buildId,
      `it belongs to another store (id ${recorded}; this bucket ${store.bucket} is ${storeId}): choose another build id`,
    );
  }
  await reopenIfUnpublished(redis, prefix, store, bound.buildId, log);
  await recordPublishedFromStore(redis, prefix, store, bound, log);
  const stored = await storedTripleIds(store, bound.buildId);
  await redis.hsetnx(redisKeys(prefix).build(bound.buildId), STORE_FIELD, storeId);
  return { plan: bound, stored };
}
