import type { ObjectStore } from '../storage/objects';
import type { ModuleBundle } from './protocol';

/** Verified bundles by sha256: a module is fetched once per worker process, however many jobs name it. */
const bundles = new Map<string, Promise<string>>();

/**
 * A module's bundle from `plugins/<sha256>.js`, its content checked against the sha256 the job
 * names (a missing one is a NotFoundError, another content an IntegrityError: neither is retried).
 */
export function fetchModuleBundle(module: { name: string; sha256: string }, store: ObjectStore): Promise<ModuleBundle> {
  let bundle = bundles.get(module.sha256);
  if (!bundle) {
    bundle = fetchVerified(store, module.sha256);
    bundles.set(module.sha256, bundle);
    // A failed fetch is not remembered: an outage may end, an upload may come.
    bundle.catch(() => bundles.delete(module.sha256));
  }
  return bundle.then((text) => ({ name: module.name, sha256: module.sha256, bundle: text }));
}

async function fetchVerified(store: ObjectStore, sha256: string): Promise<string> {
  return (await store.getVerified(sha256, 'plugin')).toString('utf8');
}
