import { createHash } from 'crypto';
import { createReadStream, promises as fsp } from 'fs';
import { FormatError } from '../../errors';

/** A file a minibatch was read from, with the sha256 (hex) of all its bytes. */
export interface UsedFile {
  path: string;
  sha256: string;
}

/**
 * The `sha256` of a file source (contract, recorded with every result row): one file → the
 * sha256 of its bytes; several files (a directory, an images/labels pair) → the sha256 of the
 * concatenation of their lowercase hex sha256s, files sorted by path (JavaScript string order).
 */
export function sourceDigest(files: readonly UsedFile[]): string {
  if (files.length === 1) return files[0]!.sha256;
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const h = createHash('sha256');
  for (const f of sorted) h.update(f.sha256, 'ascii');
  return h.digest('hex');
}

/** Streams a file once: its sha256, while `onChunk` sees every chunk and its byte offset. */
export async function hashFile(path: string, onChunk?: (chunk: Buffer, offset: number) => void): Promise<string> {
  const h = createHash('sha256');
  let offset = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    h.update(chunk);
    onChunk?.(chunk, offset);
    offset += chunk.length;
  }
  return h.digest('hex');
}

/**
 * Results of whole-file scans (sha256, label columns), kept per process: a worker loads a
 * minibatch per job, and hashing a multi-GB training set each time would dominate the job.
 * Keyed by the file's identity and change stamps, so a rewritten file is scanned again.
 */
const scanCache = new Map<string, { stamp: string; value: unknown }>();
const SCAN_CACHE_ENTRIES = 32;

export async function cachedScan<T>(path: string, kind: string, scan: () => Promise<T>): Promise<T> {
  const st = await fsp.stat(path, { bigint: true });
  const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  const key = `${kind}\0${path}`;
  const hit = scanCache.get(key);
  if (hit && hit.stamp === stamp) return hit.value as T;
  const value = await scan();
  const after = await fsp.stat(path, { bigint: true });
  // A file that changed while it was being read is not cached (its digest may mix versions).
  if (`${after.dev}:${after.ino}:${after.size}:${after.mtimeNs}:${after.ctimeNs}` === stamp) {
    scanCache.delete(key);
    scanCache.set(key, { stamp, value });
    if (scanCache.size > SCAN_CACHE_ENTRIES) scanCache.delete(scanCache.keys().next().value!);
  }
  return value;
}

/** Reads exactly `length` bytes at `position` (a short read means the file shrank underneath us). */
export async function readExactly(fh: fsp.FileHandle, file: string, position: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
  const buf = out ?? new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new FormatError(file, `unexpected end of file at byte ${position + done} (the file changed while being read?)`);
    done += bytesRead;
  }
  return buf;
}

/** Numeric-aware name order, so data_batch_10 follows data_batch_9. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
