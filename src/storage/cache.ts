import { promises as fsp } from 'fs';
import { dirname, join, resolve } from 'path';
import { loadConfig } from '../config';
import type { DownloadOptions, ObjectStore } from './objects';
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

  pathOf(sha256: string): string {
    return join(this.dir, objectKey(sha256));
  }

  async has(sha256: string, bytes: number): Promise<boolean> {
    try {
      return (await fsp.stat(this.pathOf(sha256))).size === bytes;
    } catch {
      return false;
    }
  }

  /**
   * The object's local path, downloading (or resuming) it when it is not cached yet. One process
   * at a time downloads a given object (a lock file holding its pid); others wait for it.
   */
  async fetch(store: ObjectStore, sha256: string, bytes: number, opts: DownloadOptions = {}): Promise<CachedObject> {
    const path = this.pathOf(sha256);
    const lock = `${path}.lock`;
    for (;;) {
      if (await this.has(sha256, bytes)) return { path, downloadedBytes: 0, fromCache: true };
      if (await takeLock(lock)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      // Another process may have finished between our check and taking the lock.
      if (await this.has(sha256, bytes)) return { path, downloadedBytes: 0, fromCache: true };
      const r = await store.downloadVerified(sha256, bytes, path, opts);
      return { path, downloadedBytes: r.downloadedBytes, fromCache: false };
    } finally {
      await fsp.rm(lock, { force: true });
    }
  }
}

/** Create `lock` exclusively; a lock left by a process that no longer runs is taken over. */
async function takeLock(lock: string): Promise<boolean> {
  await fsp.mkdir(dirname(lock), { recursive: true });
  try {
    await fsp.writeFile(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const text = await fsp.readFile(lock, 'utf8').catch(() => null);
  if (text === null) return false; // just released
  const holder = Number(text);
  if (text === '' || !Number.isInteger(holder) || holder <= 0) {
    // Created but its pid not written yet, or garbage: stale only once it is old.
    const age = Date.now() - (await fsp.stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if (age > 10_000) await fsp.rm(lock, { force: true });
    return false;
  }
  if (holder === process.pid || isRunning(holder)) return false; // being downloaded (maybe by us)
  await fsp.rm(lock, { force: true }); // its process is gone; the caller's loop takes it over
  return false;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
