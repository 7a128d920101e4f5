import { promises as fsp } from 'fs';
import { join, resolve } from 'path';
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

  /** The object's local path, downloading (or resuming) it when it is not cached yet. */
  async fetch(store: ObjectStore, sha256: string, bytes: number, opts: DownloadOptions = {}): Promise<CachedObject> {
    const path = this.pathOf(sha256);
    if (await this.has(sha256, bytes)) return { path, downloadedBytes: 0, fromCache: true };
    const r = await store.downloadVerified(sha256, bytes, path, opts);
    return { path, downloadedBytes: r.downloadedBytes, fromCache: false };
  }
}
