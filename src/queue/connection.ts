import { Redis } from 'ioredis';
import { ServiceError } from '../errors';
import { redactUrl } from '../log';

/**
 * Open a Redis connection for BullMQ and the results streams, and fail early with a message that
 * says how to get a Redis when none answers. `maxRetriesPerRequest: null` is what BullMQ workers
 * need: a blocking command must wait through a reconnect rather than fail.
 */
export async function connectRedis(url: string, opts: { connectTimeoutMs?: number } = {}): Promise<Redis> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ServiceError(`REDIS_URL ${JSON.stringify(redactUrl(url))} is not a URL (expected e.g. redis://127.0.0.1:6379)`);
  }
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    // Only the first connection fails fast; afterwards ioredis reconnects with a capped backoff.
    retryStrategy: (times) => Math.min(200 * 2 ** times, 5000),
  });
  // Without a listener ioredis prints every reconnect error to stderr; the caller's commands report them.
  let lastError: unknown;
  redis.on('error', (err) => (lastError = err));
  try {
    await withTimeout(redis.connect(), opts.connectTimeoutMs ?? 5000);
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const where = `${parsed.hostname || '127.0.0.1'}:${parsed.port || '6379'}`;
    throw new ServiceError(
      `cannot reach Redis at ${where} (${errorCode(lastError ?? err)}): start one (e.g. \`redis-server --daemonize yes\` or ` +
        `\`docker run -d -p 6379:6379 redis:7\`) or set REDIS_URL to a running one`,
    );
  }
  return redis;
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? String(err);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Redis's `used_memory` and `used_memory_peak`, bytes. */
export async function redisMemory(redis: Redis): Promise<{ used: number; peak: number }> {
  const info = await redis.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { used: field('used_memory'), peak: field('used_memory_peak') };
}
