import type { ComputeRequest, ComputeResult } from '../core/types';

/** A user proxy module's bundle, verified by the worker (src/worker/module-fetch.ts): the child evaluates it. */
export interface ModuleBundle {
  name: string;
  sha256: string;
  bundle: string;
}

/** Messages between a worker and its compute child (src/worker/child.ts). */
export type ToChild = { type: 'run'; id: number; req: ComputeRequest; modules?: ModuleBundle[] };

export type FromChild = { type: 'ready' } | { type: 'result'; id: number; result: ComputeResult } | { type: 'error'; id: number; error: SerializedError };

/** An error crossing the process boundary: its class name decides how the worker treats it. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}
