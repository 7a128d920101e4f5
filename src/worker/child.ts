/**
 * A compute child: runs the core on requests from its worker, one at a time. Tensor work lives
 * here so that a native crash, an out-of-memory abort or a SIGKILL ends only this process.
 */
import { backendSettings } from '../config';
import { initBackend } from '../core/backend';
import { computeProxies } from '../core/compute';
import type { ProxyDefinition } from '../core/proxies';
import { InputError } from '../errors';
import { evaluateProxyBundle } from '../plugins/proxy-module';
import { serializeError, type FromChild, type ModuleBundle, type ToChild } from './protocol';

function send(msg: FromChild): void {
  process.send!(msg);
}

/** User modules evaluated in this child, by sha256: each bundle's code runs once per child. */
const definitions = new Map<string, ProxyDefinition>();

/** A module's definition; one that does not evaluate, or exports another name than the job's, is an InputError (not retried). */
function definitionOf(m: ModuleBundle): ProxyDefinition {
  let d = definitions.get(m.sha256);
  if (!d) {
    const where = `proxy module ${m.name} (sha256 ${m.sha256.slice(0, 12)}…)`;
    try {
      d = evaluateProxyBundle(m.bundle, where);
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(where, m.sha256, `a module that evaluates (it threw: ${err instanceof Error ? err.message : String(err)})`);
    }
    if (d.name !== m.name) throw new InputError(`${where}: name`, d.name, `"${m.name}", the name the build gave it`);
    definitions.set(m.sha256, d);
  }
  return d;
}

process.on('message', (msg: ToChild) => {
  if (msg.type !== 'run') return;
  // The backend settings reach the core as arguments; a bad ZC_BACKEND fails the job as an InputError.
  initBackend(backendSettings())
    .then(() => computeProxies(msg.modules ? { ...msg.req, modules: msg.modules.map(definitionOf) } : msg.req))
    .then(
      (result) => send({ type: 'result', id: msg.id, result }),
      (err: unknown) => send({ type: 'error', id: msg.id, error: serializeError(err) }),
    );
});

// The worker's death must end the child too (no orphan computing for nobody).
process.on('disconnect', () => process.exit(0));

send({ type: 'ready' });
