import { randomBytes } from 'crypto';
import type { Redis } from 'ioredis';
import { runScript } from './lua';

export interface Lock {
  readonly key: string;
  /** False once the lock expired or was taken over: the holder must stop acting under it. */
  readonly held: boolean;
  release(): Promise<void>;
}

/**
 * A Redis lock (SET NX PX with a random token), renewed in the background every third of its TTL
 * while held. Returns null when someone else holds it.
 */
export async function tryLock(redis: Redis, key: string, ttlMs = 30_000): Promise<Lock | null> {
  const token = randomBytes(16).toString('hex');
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  let held = true;
  const renew = setInterval(() => {
    (runScript(redis, 'extendLock', [key], [token, ttlMs]) as Promise<number>).then(
      (n) => {
        if (n !== 1) {
          held = false;
          clearInterval(renew);
        }
      },
      // A Redis hiccup: try again at the next tick; the TTL covers two missed renewals.
      () => undefined,
    );
  }, Math.floor(ttlMs / 3));
  renew.unref();
  return {
    key,
    get held() {
      return held;
    },
    async release() {
      clearInterval(renew);
      if (!held) return;
      held = false;
      await runScript(redis, 'releaseLock', [key], [token]);
    },
  };
}

/** Wait for a lock, polling every `pollMs`, until `signal` aborts (then null). */
export async function waitForLock(redis: Redis, key: string, opts: { ttlMs?: number; pollMs?: number; signal?: AbortSignal } = {}): Promise<Lock | null> {
  for (;;) {
    const lock = await tryLock(redis, key, opts.ttlMs);
    if (lock) return lock;
    if (opts.signal?.aborted) return null;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
