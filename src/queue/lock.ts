import { randomBytes } from 'crypto';
import type { Redis } from 'ioredis';
import { logger } from '../log';
import { runScript } from './lua';

export interface Lock {
  readonly key: string;
  /** The holder's id, the lock key's value: fenced scripts compare it before they write. */
  readonly holder: string;
  /** Fencing token: larger than every earlier holder's of this key (names the holder's writes). */
  readonly token: number;
  /**
   * False once the lock was lost, or when no renewal has confirmed it for a whole TTL (Redis
   * unreachable, or this process paused): the holder must stop writing under it.
   */
  readonly held: boolean;
  /** Ask Redis now (and extend the TTL): true when the lock is still ours. */
  confirm(): Promise<boolean>;
  release(): Promise<void>;
}

export interface LockOptions {
  ttlMs?: number;
  /** The fencing token will be above this (see acquireLock.lua). */
  tokenFloor?: number;
}

/** The key of a lock's token counter: it outlives the lock, so tokens keep increasing. */
export function tokenCounterKey(lockKey: string): string {
  return `${lockKey}:token`;
}

/**
 * A Redis lock (SET NX PX with a random holder id) with a fencing token (INCR), renewed in the
 * background every third of its TTL. Returns null when someone else holds it.
 */
export async function tryLock(redis: Redis, key: string, opts: LockOptions = {}): Promise<Lock | null> {
  const ttlMs = opts.ttlMs ?? 30_000;
  const holder = randomBytes(16).toString('hex');
  const sentAt = Date.now();
  const token = Number(await runScript(redis, 'acquireLock', [key, tokenCounterKey(key)], [holder, ttlMs, opts.tokenFloor ?? 0]));
  if (token === 0) return null;
  let lost = false;
  // When a renewal last succeeded, counted from when it was sent (the conservative end).
  let confirmedAt = sentAt;
  const extend = async (): Promise<boolean> => {
    if (lost) return false;
    const at = Date.now();
    const n = (await runScript(redis, 'extendLock', [key], [holder, ttlMs])) as number;
    if (n === 1) confirmedAt = at;
    else {
      lost = true;
      clearInterval(renew);
    }
    return !lost;
  };
  const renew = setInterval(
    () => {
      extend().catch((err: unknown) => logger.warn({ lock: key, err: String(err) }, 'lock renewal failed; writes under it stop until one succeeds'));
    },
    Math.floor(ttlMs / 3),
  );
  renew.unref();
  return {
    key,
    holder,
    token,
    get held() {
      return !lost && Date.now() - confirmedAt < ttlMs;
    },
    async confirm() {
      return extend().catch(() => false);
    },
    async release() {
      clearInterval(renew);
      if (lost) return;
      lost = true;
      await runScript(redis, 'releaseLock', [key], [holder]);
    },
  };
}

/** Wait for a lock, polling every `pollMs`, until `signal` aborts (then null). */
export async function waitForLock(redis: Redis, key: string, opts: LockOptions & { pollMs?: number; signal?: AbortSignal } = {}): Promise<Lock | null> {
  for (;;) {
    const lock = await tryLock(redis, key, opts);
    if (lock) return lock;
    if (opts.signal?.aborted) return null;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
