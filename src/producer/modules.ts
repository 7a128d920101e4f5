import { createHash } from 'crypto';
import { resolve } from 'path';
import { checkModuleNames, loadProxyModule, type LoadedProxyModule } from '../plugins/proxy-module';
import type { ObjectStore } from '../storage/objects';
import { countTriples, type BuildPlan, type PlannedModule } from './spec';

/**
 * A plan with its spec's proxy modules loaded and stored: each file bundled (esbuild) and evaluated
 * once here to read its definition (a module is code: the producer runs it too), two different
 * modules under one name an InputError naming the field, each bundle put at `plugins/<sha256>.js`
 * unless already there (without a store, as `produce --dry-run` does, nothing is written). A derived build id takes the modules' hashes in: another module, another build.
 */
export async function withProxyModules(plan: BuildPlan, store?: ObjectStore): Promise<BuildPlan> {
  const files = plan.spec.proxyModules ?? [];
  if (files.length === 0 || plan.modules) return plan;
  const field = (i: number) => `spec proxyModules[${i}]`;
  const loaded: LoadedProxyModule[] = [];
  for (const [i, file] of files.entries()) loaded.push(await loadProxyModule(resolve(plan.baseDir, file), field(i)));
  checkModuleNames(loaded, field);
  const modules: PlannedModule[] = [];
  for (const [i, m] of loaded.entries()) {
    if (modules.some((o) => o.name === m.definition.name)) continue; // the same module listed twice
    modules.push({ name: m.definition.name, file: files[i]!, sha256: m.sha256 });
    if (store) await storeBundle(store, m);
  }
  const buildId =
    plan.spec.buildId ??
    `${plan.spec.dataset}-${createHash('sha256')
      .update(plan.buildId)
      .update(JSON.stringify(modules.map((m) => [m.name, m.sha256]).sort()))
      .digest('hex')
      .slice(0, 12)}`;
  return { ...plan, buildId, modules, ...countTriples(plan.spec, plan.spaces, modules.length) };
}

/** Content-addressed, written once (putObject skips a stored copy of the same size and hash); workers verify it on every fetch. */
async function storeBundle(store: ObjectStore, m: LoadedProxyModule): Promise<void> {
  await store.putObject(Buffer.from(m.bundle), 'plugin');
}
