import type { MinibatchObjectSpec } from '../core/types';
import { LocalCache } from '../storage/cache';
import type { ObjectStore } from '../storage/objects';
import { openStore } from '../storage/store';

/** The store and verified cache minibatch objects come from (the configured S3 and `<ZC_HOME>/cache`), opened once per process. */
let opened: { store: ObjectStore; cache: LocalCache } | null = null;
function source() {
  opened ??= { store: openStore(), cache: new LocalCache() };
  return opened;
}

/**
 * A job's data with its minibatch objects fetched into the verified cache (sha256 checked on
 * download; an object that does not match is an IntegrityError) and their local paths set.
 */
export async function withFetchedMinibatches(data: MinibatchObjectSpec, needSecond: boolean): Promise<MinibatchObjectSpec> {
  const { store, cache } = source();
  const first = await cache.fetch(store, data.minibatch.sha256, data.minibatch.bytes, { kind: 'minibatch' });
  const second = needSecond ? await cache.fetch(store, data.second.sha256, data.second.bytes, { kind: 'minibatch' }) : null;
  return { ...data, path: first.path, ...(second ? { secondPath: second.path } : {}) };
}
