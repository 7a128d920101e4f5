/**
 * One error type per failure class. The CLI maps each class to an exit code and prints
 * `message` as one line (no stack trace) for user-facing classes.
 */

/** Bad user input: a field, the value given, and what would have been valid. Exit code 2. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`invalid ${field}: ${formatValue(value)} (${expected})`);
  }
}

/** Content whose sha256 or size does not match what a manifest or pointer promised. Exit code 3. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
}

/** A dataset, version or object that does not exist. Exit code 2. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** A build an operator cancelled (`zcbench cancel`): it will not be published. Exit code 2. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
}

/** A file whose format is not what it claims to be (NASLib json, npy, CIFAR binary, safetensors...). Exit code 2. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** A required service (Redis, S3) is unreachable or misbehaving. Exit code 4; retryable. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
}

/** A lock (build ownership, a dataset's publishing) was lost mid-work: the holder stops and writes nothing more. */
export class LockLostError extends Error {
  override readonly name = 'LockLostError';
}

/** A job needs more memory than its pool (or backend) can give it. Retryable on a heavier pool. */
export class ResourceError extends Error {
  override readonly name = 'ResourceError';
  constructor(
    message: string,
    readonly neededBytes?: number,
    readonly budgetBytes?: number,
  ) {
    super(message);
  }
}

/** A job that ran past its deadline (a hung or stopped compute child): killed, retryable. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s;
  } catch {
    return String(value);
  }
}

/** Exit code for an error reaching the CLI. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof InputError || err instanceof NotFoundError || err instanceof FormatError || err instanceof CancelledError) return 2;
  if (err instanceof IntegrityError) return 3;
  if (err instanceof ServiceError) return 4;
  return 1;
}

/** Errors a user caused or can act on: printed as one line, without a stack trace. */
export function isUserFacing(err: unknown): err is Error {
  return (
    err instanceof InputError ||
    err instanceof NotFoundError ||
    err instanceof CancelledError ||
    err instanceof FormatError ||
    err instanceof IntegrityError ||
    err instanceof ServiceError ||
    err instanceof ResourceError
  );
}
