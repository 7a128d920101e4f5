import { existsSync, readdirSync } from 'fs';
import { dirname, join } from 'path';

/** The backends the core can run on (src/core/backend.ts initialises them). */
export type BackendName = 'node' | 'wasm' | 'hybrid' | 'cpu';

export const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';

/**
 * tfjs-node without its native binding (its install script downloads libtensorflow; skipped or
 * failed offline) would still load the tfjs union package before failing: look for the binding first.
 */
export function nativeBindingOf(moduleName: string): { ok: true } | { ok: false; reason: string } {
  let root: string;
  try {
    root = dirname(require.resolve(`${moduleName}/package.json`));
  } catch {
    return { ok: false, reason: 'not installed' };
  }
  const lib = join(root, 'lib');
  const found = existsSync(lib) && readdirSync(lib).some((d) => existsSync(join(lib, d, 'tfjs_binding.node')));
  return found ? { ok: true } : { ok: false, reason: 'installed without its native binding (libtensorflow download skipped or failed)' };
}

/**
 * The backend family a process computes with, known without initialising tfjs: the forced one, else
 * `node` when tfjs-node's binding is installed, else `wasm` (whose jobs beyond 4 GiB run on `hybrid`,
 * a choice made by the job's memory plan alone, so the family and the job fix the backend).
 */
export function backendFamily(forced: BackendName | undefined): BackendName {
  if (forced !== undefined) return forced;
  return nativeBindingOf(TFJS_NODE_PACKAGE).ok ? 'node' : 'wasm';
}
