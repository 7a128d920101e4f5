import { ServiceError } from '../errors';
import type { Logger } from '../log';
import { isTransientS3Error } from '../storage/s3';

/** How long, and how patiently, a worker retries an infrastructure failure (ZC_INFRA_RETRY_MAX_S, ZC_INFRA_RETRY_CAP_S). */
export interface InfraRetryPolicy {
  /** Give up once retrying would pass this, ms since the first failure. */
  maxMs: number;
  /** Longest single wait, ms; the waits double from `firstMs` up to it. */
  capMs: number;
  /** First wait, ms (default 250). */
  firstMs?: number;
}

/**
 * Redis replies that say the server cannot serve now, not that the command is wrong: out of
 * memory (maxmemory), cannot persist (MISCONF), a replica or a failover, loading its data, a busy script.
 */
const REDIS_UNAVAILABLE = /^(OOM|MISCONF|READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS)\b/;

/**
 * Failures of the services a job depends on rather than of the job: Redis unreachable or refusing
 * writes, S3 unreachable or failing (5xx, throttling), or a ServiceError saying so. Retrying them
 * after a wait helps; a proxy's error or bad input is not one of them.
 */
export function isInfrastructureError(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'ServiceError' || e.name === 'MaxRetriesPerRequestError') return true;
  // Not ioredis's "Connection is closed.": our connections wait through reconnects (maxRetriesPerRequest: null), so that one means we closed it.
  if (REDIS_UNAVAILABLE.test(e.message ?? '')) return true;
  return isTransientS3Error(err);
}

/**
 * Run `op`, retrying infrastructure failures with capped exponential back-off for up to
 * `policy.maxMs`; other errors, and the last infrastructure one, are thrown (the last as a
 * ServiceError naming `what` and how long it was tried). What the job computed is kept meanwhile.
 */
export async function retryInfrastructure<T>(what: string, op: () => Promise<T>, policy: InfraRetryPolicy, log: Logger): Promise<T> {
  const started = Date.now();
  let wait = policy.firstMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isInfrastructureError(err)) throw err;
      const elapsed = Date.now() - started;
      const message = (err as Error).message;
      if (elapsed + wait > policy.maxMs) {
        throw new ServiceError(`${what}: infrastructure still failing after ${attempt} attempts over ${Math.round(elapsed / 1000)} s: ${message}`, {
          cause: err,
        });
      }
      log.warn({ op: what, attempt, retryInMs: wait, err: message }, 'infrastructure failure: retrying with back-off');
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(policy.capMs, wait * 2);
    }
  }
}
