import { ResourceError } from '../errors';

/** Error classes that say the input is wrong: retrying cannot help. */
const INPUT_ERRORS = new Set(['InputError', 'FormatError', 'NotFoundError', 'IntegrityError']);

/** How engines report exhausted memory: V8 heap, ArrayBuffer allocation, wasm memory growth. */
const OOM_PATTERN = /out of memory|allocation failed|Cannot enlarge memory|heap limit|Array buffer allocation/i;

export function isMemoryError(err: unknown): boolean {
  const e = err as Error;
  return e instanceof ResourceError || e?.name === 'ResourceError' || OOM_PATTERN.test(e?.message ?? '');
}

export function isInputError(err: unknown): boolean {
  return INPUT_ERRORS.has((err as Error)?.name);
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Errors after which nothing is left to record: the rows are written, or the payload names no valid triple. */
const accounted = new WeakSet<object>();

/** `err`, marked as accounted for: neither the job's retry loop nor the late-failure handler writes rows for it again. */
export function marked<E extends Error>(err: E): E {
  accounted.add(err);
  return err;
}

export function isAccounted(err: unknown): boolean {
  return typeof err === 'object' && err !== null && accounted.has(err);
}
