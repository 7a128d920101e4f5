import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { InputError } from '../errors';
import { nativeBindingOf, TFJS_NODE_PACKAGE } from './backend-family';
import { registerCustomKernels } from './kernels';
import { HYBRID_BACKEND, registerHybridBackend, setHybridThreads } from './kernels/hybrid';
import { BACKENDS, type BackendName } from './names';
import { pointWasmAtItsBinaries } from './kernels/wasm-paths';

/** The one tfjs namespace the core uses (functional ops only: chained ops are not registered). */
export { tf };

// tfjs prints advice banners ("install tfjs-node") with console.warn; our logs are structured.
tf.env().set('PROD', true);
// Gradients exist as soon as `tf` is imported from here (initBackend registers them too, idempotently).
registerCustomKernels();

/**
 * The settings of the tf backend, given by the caller (the CLI, a worker's compute child, a bench:
 * they read ZC_BACKEND and ZC_HYBRID_THREADS through src/config.ts). The core reads no environment.
 */
export interface BackendSettings {
  /** ZC_BACKEND: force this backend; unset: the first that initialises, in BACKENDS order. */
  backend?: BackendName;
  /** ZC_HYBRID_THREADS: threads of the hybrid backend's convolutions (the main one included); unset: every core. */
  threads?: number;
  /**
   * ZC_WASM_SHARDS: most wasm heaps one job's minibatch may be split between when it does not fit
   * one (src/core/shards); 1: never, such a job runs on hybrid. Unset: DEFAULT_WASM_SHARDS.
   */
  shards?: number;
  /**
   * ZC_WASM_MIN_SHARDS: split every job between at least this many wasm heaps where each fits (a
   * pod that runs one job at a time on N cores sets N: wasm runs a heap's kernels on one thread).
   * Unset: 1.
   */
  minShards?: number;
}

/** Enough heaps for the largest Taskonomy jobs at batch 32 (threads beyond the cores share them). */
export const DEFAULT_WASM_SHARDS = 8;

let wasmShards = { max: DEFAULT_WASM_SHARDS, min: 1 };

/** How many wasm heaps a job's minibatch may be split between (initBackend's `shards`, `minShards`). */
export function wasmShardLimits(): { max: number; min: number } {
  return { ...wasmShards };
}
export type { BackendName };

/** Our backend names → the names tfjs registers them under (tfjs-node registers 'tensorflow'). */
export const TFJS_NAME: Record<BackendName, string> = { node: 'tensorflow', wasm: 'wasm', hybrid: HYBRID_BACKEND, cpu: 'cpu' };

/** Preference order when nothing is forced: fastest first, the pure-JS cpu backend last. */
const PREFERENCE: readonly BackendName[] = BACKENDS;

let initialised: Promise<BackendName> | null = null;
let active: BackendName | null = null;
let nodeLoad: { ok: true } | { ok: false; reason: string } | null = null;

/**
 * tfjs-node is an optional dependency that cannot install everywhere: require it by a computed
 * name so TypeScript needs neither the package nor its types. It must register into the same
 * tfjs-core instance as ours (a second copy would register elsewhere), so check our registry.
 */
function loadNode(): boolean {
  if (nodeLoad === null) {
    const moduleName = TFJS_NODE_PACKAGE;
    const binding = nativeBindingOf(moduleName);
    if (!binding.ok) {
      nodeLoad = binding;
      return false;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(moduleName);
      nodeLoad = tf.findBackendFactory(TFJS_NAME.node) != null ? { ok: true } : { ok: false, reason: 'loaded a different @tensorflow/tfjs-core copy' };
    } catch (err) {
      nodeLoad = { ok: false, reason: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
    } finally {
      // tfjs-node loads the tfjs union package, whose stock gradients replace ours: restore ours.
      registerCustomKernels(true);
    }
  }
  return nodeLoad.ok;
}

type ProcessEvent = 'uncaughtException' | 'unhandledRejection';
const PROCESS_EVENTS: readonly ProcessEvent[] = ['uncaughtException', 'unhandledRejection'];

/** Make `name` the active tfjs backend; false when it cannot initialise here. */
async function trySet(name: BackendName): Promise<boolean> {
  if (name === 'node' && !loadNode()) return false;
  if (name === 'wasm') pointWasmAtItsBinaries();
  if (name === 'hybrid') {
    // Its convolutions call the wasm backend's kernels: wasm must be initialised (and stay so).
    if (!(tf.findBackend('wasm') != null || (await trySet('wasm')))) return false;
    registerHybridBackend();
  }
  // wasm's Emscripten glue adds process-wide handlers that rethrow any uncaught error (printing
  // its minified source); remove whatever the initialisation adds so our error handling applies.
  const before = new Map(PROCESS_EVENTS.map((e) => [e, new Set<unknown>(process.listeners(e as 'uncaughtException'))]));
  try {
    return await tf.setBackend(TFJS_NAME[name]);
  } catch {
    return false;
  } finally {
    for (const event of PROCESS_EVENTS) {
      for (const listener of process.listeners(event as 'uncaughtException')) {
        if (!before.get(event)!.has(listener)) process.removeListener(event as 'uncaughtException', listener);
      }
    }
  }
}

/** Backends that initialise in this process, in preference order. Leaves the active backend as it was. */
export async function availableBackends(): Promise<BackendName[]> {
  registerCustomKernels();
  const previous = tf.getBackend();
  const found: BackendName[] = [];
  for (const name of PREFERENCE) {
    if (await trySet(name)) found.push(name);
  }
  if (previous && tf.getBackend() !== previous) await tf.setBackend(previous);
  return found;
}

function forcedBackend(prefer: BackendName | undefined): BackendName | undefined {
  if (prefer !== undefined && !(PREFERENCE as readonly string[]).includes(prefer)) {
    throw new InputError('backend', prefer, `one of ${PREFERENCE.join(', ')}`);
  }
  return prefer;
}

async function select(forced: BackendName | undefined): Promise<BackendName> {
  registerCustomKernels();
  if (forced !== undefined) {
    if (await trySet(forced)) return forced;
    const available = await availableBackends();
    const why = forced === 'node' && nodeLoad && !nodeLoad.ok ? `; tfjs-node: ${nodeLoad.reason}` : '';
    throw new InputError('ZC_BACKEND', forced, `available: ${available.join(', ')}${why}`);
  }
  for (const name of PREFERENCE) {
    if (await trySet(name)) return name;
  }
  throw new Error('no TensorFlow.js backend could initialise (cpu should always work)');
}

/*
 * Gradients: tfjs-core's CommonJS build registers none (its register_all_gradients is ESM-only).
 * initBackend registers ours (./kernels) for every kernel we run, second-order safe. We do not
 * load the @tensorflow/tfjs union package for its stock gradients: it costs ~0.5 s and ~20 MB per
 * process (layers, converter, webgl), and ours replace them anyway.
 */

/**
 * Select and initialise the backend once per process: `settings.backend` (or a bare name) forces
 * one; otherwise tfjs-node where it loads, else wasm, else cpu. A forced backend that is unavailable
 * throws InputError('ZC_BACKEND', value, 'available: ...'). Registers the custom kernels and
 * gradients. Idempotent; returns the active backend name. A later call that forces a different
 * backend switches to it (tests compare backends in one process); `threads`, `shards` and `minShards` apply at once.
 */
export async function initBackend(settings: BackendSettings | BackendName = {}): Promise<BackendName> {
  const { backend: prefer, threads, shards, minShards } = typeof settings === 'string' ? { backend: settings } : settings;
  const forced = forcedBackend(prefer);
  if (threads !== undefined) setHybridThreads(threads);
  for (const [name, value] of [
    ['ZC_WASM_SHARDS', shards],
    ['ZC_WASM_MIN_SHARDS', minShards],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) throw new InputError(name, String(value), 'a positive integer');
  }
  wasmShards = { max: shards ?? wasmShards.max, min: minShards ?? wasmShards.min };
  if (initialised !== null) {
    const current = await initialised;
    if (forced === undefined || forced === current) return current;
  }
  const selecting = select(forced);
  initialised = selecting;
  try {
    active = await selecting;
    return active;
  } catch (err) {
    initialised = null;
    throw err;
  }
}

/** The active backend under our name; throws if initBackend has not run. */
export function activeBackend(): BackendName {
  if (active === null) throw new Error('initBackend() has not been called in this process');
  const tfName = tf.getBackend();
  const ours = (Object.keys(TFJS_NAME) as BackendName[]).find((n) => TFJS_NAME[n] === tfName);
  return ours ?? active;
}
