import { randomUUID } from 'crypto';
import { promises as fsp, readFileSync } from 'fs';
import { hostname } from 'os';
import { dirname, join, resolve } from 'path';
import { loadConfig } from '../config';
import type { ContentKind, DownloadOptions, ObjectStore } from './objects';
import { objectKey } from './objects';

export interface CachedObject {
  path: string;
  /** Bytes fetched from S3 for this object (0 when it was cached). */
  downloadedBytes: number;
  fromCache: boolean;
}

/** The default cache: `<ZC_HOME>/cache`. */
export function defaultCacheDir(): string {
  return resolve(loadConfig().ZC_HOME, 'cache');
}

/**
 * Local content-addressed copies of objects, laid out like the bucket. A file appears under its
 * final name only after its sha256 was verified (download to `.partial`, then rename), so a
 * cached object of the right size is trusted without rehashing.
 */
export class LocalCache {
  readonly dir: string;

  constructor(dir: string = defaultCacheDir()) {
    this.dir = resolve(dir);
  }

  pathOf(sha256: string, kind: ContentKind = 'object'): string {
    return join(this.dir, objectKey(sha256, kind));
  }

  async has(sha256: string, bytes: number, kind: ContentKind = 'object'): Promise<boolean> {
    try {
      return (await fsp.stat(this.pathOf(sha256, kind))).size === bytes;
    } catch {
      return false;
    }
  }

  /**
   * The object's local path, downloading (or resuming) it when it is not cached yet. One process
   * at a time downloads a given object (a lock file naming its holder); others wait for it, and take
   * over a lock whose holder is gone.
   */
  async fetch(store: ObjectStore, sha256: string, bytes: number, opts: DownloadOptions = {}): Promise<CachedObject> {
    const path = this.pathOf(sha256, opts.kind);
    const lock = `${path}.lock`;
    for (;;) {
      if (await this.has(sha256, bytes, opts.kind)) return { path, downloadedBytes: 0, fromCache: true };
      if (await takeLock(lock)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return withLock(lock, async () => {
      // Another process may have finished between our check and taking the lock.
      if (await this.has(sha256, bytes, opts.kind)) return { path, downloadedBytes: 0, fromCache: true };
      const r = await store.downloadVerified(sha256, bytes, path, opts);
      return { path, downloadedBytes: r.downloadedBytes, fromCache: false };
    });
  }
}

/**
 * Who holds a lock: pid alone is not enough. In containers every process may be pid 1, so a lock
 * left by the previous container carries our own pid; and a pid may have been reused. The holder
 * is this process's random token, plus its host and the process's start time where /proc has it.
 */
interface LockOwner {
  pid: number;
  host: string;
  token: string;
  /** Start time of the process (clock ticks since boot, /proc/<pid>/stat), when known. */
  started?: number;
}

const OWN: LockOwner = { pid: process.pid, host: hostname(), token: randomUUID(), started: processStartTime(process.pid) };

/** A lock held by another host is stale once it has not been refreshed for this long, ms. */
const FOREIGN_LOCK_STALE_MS = 60_000;
/** How often a holder refreshes its lock's mtime (other hosts cannot check its pid), ms. */
const LOCK_REFRESH_MS = 10_000;

/** Hold `lock` while `f` runs (refreshing it), then remove it. */
async function withLock<T>(lock: string, f: () => Promise<T>): Promise<T> {
  const refresh = setInterval(() => {
    const now = new Date();
    fsp.utimes(lock, now, now).catch(() => undefined);
  }, LOCK_REFRESH_MS);
  refresh.unref();
  try {
    return await f();
  } finally {
    clearInterval(refresh);
    await fsp.rm(lock, { force: true });
  }
}

/** Create `lock` exclusively; a lock whose holder is gone is removed (the caller's loop then takes it). */
async function takeLock(lock: string): Promise<boolean> {
  await fsp.mkdir(dirname(lock), { recursive: true });
  try {
    await fsp.writeFile(lock, JSON.stringify(OWN), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const text = await fsp.readFile(lock, 'utf8').catch(() => null);
  if (text === null) return false; // just released
  const mtimeMs = (await fsp.stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
  if (isStale(parseOwner(text), Date.now() - mtimeMs)) await fsp.rm(lock, { force: true });
  return false;
}

/** A lock's holder; a bare pid is what earlier versions wrote (a local process, without a token). */
function parseOwner(text: string): LockOwner | null {
  if (/^\d+$/.test(text.trim())) return { pid: Number(text), host: OWN.host, token: '' };
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isInteger(o.pid) && typeof o.host === 'string' && typeof o.token === 'string') return o as LockOwner;
  } catch {
    // fall through: garbage, or a holder that has not finished writing it
  }
  return null;
}

function isStale(owner: LockOwner | null, ageMs: number): boolean {
  // Unreadable: being written, or garbage; stale once it is old.
  if (owner === null) return ageMs > 10_000;
  if (owner.host !== OWN.host) return ageMs > FOREIGN_LOCK_STALE_MS;
  if (owner.pid === OWN.pid) return owner.token !== OWN.token; // our pid, not our process: a predecessor's
  if (!isRunning(owner.pid)) return true;
  const started = processStartTime(owner.pid);
  return owner.started !== undefined && started !== undefined && started !== owner.started; // pid reused
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name); undefined off Linux. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
