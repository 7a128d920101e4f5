import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { createHash } from 'crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'fs';
import { dirname } from 'path';
import type { Readable } from 'stream';
import { IntegrityError, NotFoundError, ServiceError } from '../errors';
import { isS3NotFound, isTransientS3Error, withS3Retry, type S3Handle } from './s3';

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Where each kind of content-addressed object lives: a version's files under `objects/sha256/`,
 * drawn minibatches (`zcbench data add`) under `data/`, bundled proxy modules under `plugins/`.
 */
const CONTENT_KEYS = {
  object: (sha256: string) => `objects/sha256/${sha256.slice(0, 2)}/${sha256}`,
  minibatch: (sha256: string) => `data/${sha256}`,
  plugin: (sha256: string) => `plugins/${sha256}.js`,
};
export type ContentKind = keyof typeof CONTENT_KEYS;

/** Key of a content-addressed object of `kind` (default: a version's file). */
export function objectKey(sha256: string, kind: ContentKind = 'object'): string {
  if (!SHA256_PATTERN.test(sha256)) throw new IntegrityError(`not a sha256: ${JSON.stringify(sha256)}`);
  return CONTENT_KEYS[kind](sha256);
}

export function sha256Of(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 and size of a file, streamed (files may be larger than memory). */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: h.digest('hex'), bytes };
}

export interface PutResult {
  sha256: string;
  bytes: number;
  /** false: an identical object was already in the bucket. */
  uploaded: boolean;
}

/** Bytes moved through this store since it was created (tests and `pull` report them). */
export interface TransferStats {
  bytesDownloaded: number;
  bytesUploaded: number;
}

export interface DownloadOptions {
  /** Which kind of content-addressed object (default: a version's file). */
  kind?: ContentKind;
  /** Called as bytes arrive: total so far (including a resumed prefix) and the expected size. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

export interface DownloadResult {
  /** Bytes fetched from S3 by this call (a resumed download fetches only the rest). */
  downloadedBytes: number;
  /** Bytes already on disk from an interrupted earlier download. */
  resumedFromBytes: number;
}

const PARTIAL_SUFFIX = '.partial';
const SHA256_METADATA = 'sha256';

/**
 * Immutable content-addressed objects in one bucket, plus the few named keys (manifests, pointers)
 * that refer to them. Every read of an object is checked against its sha256.
 */
export class ObjectStore {
  readonly stats: TransferStats = { bytesDownloaded: 0, bytesUploaded: 0 };

  constructor(
    readonly s3: S3Handle,
    readonly bucket: string,
  ) {}

  private retry<T>(what: string, op: () => Promise<T>): Promise<T> {
    return withS3Retry(`${what} (bucket ${this.bucket})`, op, { deadlineMs: this.s3.retryDeadlineMs });
  }

  /** Size and recorded sha256 of a key, or null when it does not exist. */
  async head(key: string): Promise<{ bytes: number; sha256?: string } | null> {
    try {
      const out = await this.retry(`HEAD ${key}`, () => this.s3.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return { bytes: out.ContentLength ?? 0, sha256: out.Metadata?.[SHA256_METADATA] };
    } catch (err) {
      if (isS3NotFound(err)) return null;
      throw err;
    }
  }

  /**
   * Store content under its sha256. Skips the upload when an object of the same size and recorded
   * hash is already there. Content-MD5 makes the server reject a body damaged in transit.
   */
  async putObject(source: Uint8Array | { file: string }, kind: ContentKind = 'object'): Promise<PutResult> {
    const isFile = !(source instanceof Uint8Array);
    const { sha256, bytes } = isFile ? await hashFile(source.file) : { sha256: sha256Of(source), bytes: source.length };
    const key = objectKey(sha256, kind);
    const existing = await this.head(key);
    if (existing && existing.bytes === bytes && existing.sha256 === sha256) return { sha256, bytes, uploaded: false };
    const md5 = isFile ? await md5File(source.file) : createHash('md5').update(source).digest('base64');
    await this.retry(`PUT ${key}`, () =>
      this.s3.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          // A fresh stream per attempt: a retried request cannot reuse a consumed one.
          Body: isFile ? createReadStream(source.file) : source,
          ContentLength: bytes,
          ContentMD5: md5,
          ContentType: 'application/octet-stream',
          Metadata: { [SHA256_METADATA]: sha256 },
        }),
      ),
    );
    this.stats.bytesUploaded += bytes;
    const stored = await this.head(key);
    if (!stored || stored.bytes !== bytes) {
      throw new IntegrityError(`object ${sha256}: uploaded ${bytes} bytes but the store holds ${stored ? stored.bytes : 'nothing'}`);
    }
    return { sha256, bytes, uploaded: true };
  }

  /** Whether a content-addressed object is present with the expected size. */
  async hasObject(sha256: string, bytes: number, kind: ContentKind = 'object'): Promise<boolean> {
    const h = await this.head(objectKey(sha256, kind));
    return h !== null && h.bytes === bytes;
  }

  /** A whole object in memory, checked against its sha256 (IntegrityError on mismatch). */
  async getVerified(sha256: string, kind: ContentKind = 'object'): Promise<Buffer> {
    const key = objectKey(sha256, kind);
    const body = await this.getKey(key);
    if (body === null) throw new NotFoundError(`${key} is missing from bucket ${this.bucket}`);
    const got = sha256Of(body);
    if (got !== sha256) throw new IntegrityError(`${key} in bucket ${this.bucket} is corrupted: its content hashes to ${got}`);
    return body;
  }

  /**
   * Stream an object to `dest`, verifying its sha256. Bytes go to `dest.partial` first; an
   * interrupted download leaves that file and the next call resumes it with a ranged GET. On a
   * mismatch the partial file is removed and nothing appears under `dest`.
   */
  async downloadVerified(sha256: string, bytes: number, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
    const key = objectKey(sha256, opts.kind);
    const partial = dest + PARTIAL_SUFFIX;
    await fsp.mkdir(dirname(dest), { recursive: true });
    const hash = createHash('sha256');
    let have = 0;
    try {
      const st = await fsp.stat(partial);
      have = st.size;
    } catch {
      have = 0;
    }
    if (have > bytes) {
      await fsp.rm(partial, { force: true });
      have = 0;
    }
    if (have > 0) {
      for await (const chunk of createReadStream(partial) as AsyncIterable<Buffer>) hash.update(chunk);
    }
    let fetched = 0;
    const started = Date.now();
    // Each attempt continues from what is on disk, so a connection lost mid-body costs nothing.
    while (have < bytes) {
      const start = have;
      const out = await this.getRange(key, start, opts.signal);
      const writer = createWriteStream(partial, { flags: 'a' });
      let interrupted = false;
      let oversize: IntegrityError | undefined;
      try {
        for await (const chunk of out.Body as Readable as AsyncIterable<Buffer>) {
          if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
          if (have + chunk.length > bytes) throw oversized(key, bytes, have + chunk.length);
          await writeChunk(writer, chunk);
          hash.update(chunk);
          have += chunk.length;
          fetched += chunk.length;
          this.stats.bytesDownloaded += chunk.length;
          opts.onProgress?.(have, bytes);
        }
      } catch (err) {
        if (err instanceof IntegrityError) {
          // Stop the transfer: a hostile or replaced object must not fill the disk.
          (out.Body as Readable).destroy();
          oversize = err;
        } else {
          const retryable = !opts.signal?.aborted && isTransientS3Error(err) && Date.now() - started < this.s3.retryDeadlineMs;
          if (!retryable) throw err;
          interrupted = true;
        }
      } finally {
        await new Promise<void>((res) => writer.end(() => res()));
      }
      if (oversize) {
        await fsp.rm(partial, { force: true });
        throw oversize;
      }
      if (have === start && !interrupted) throw new ServiceError(`S3 GET ${key}: the body ended at byte ${have} of ${bytes}`);
    }
    const got = hash.digest('hex');
    if (have !== bytes || got !== sha256) {
      await fsp.rm(partial, { force: true });
      throw new IntegrityError(`object ${sha256} in bucket ${this.bucket} is corrupted: ${have} bytes hashing to ${got} (expected ${bytes} bytes)`);
    }
    await fsp.rename(partial, dest);
    return { downloadedBytes: fetched, resumedFromBytes: bytes - fetched };
  }

  private async getRange(key: string, start: number, signal?: AbortSignal): Promise<GetObjectCommandOutput> {
    try {
      return await this.retry(`GET ${key} from byte ${start}`, () =>
        this.s3.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: start > 0 ? `bytes=${start}-` : undefined }), { abortSignal: signal }),
      );
    } catch (err) {
      if (isS3NotFound(err)) throw new NotFoundError(`object ${key.slice(key.lastIndexOf('/') + 1)} is missing from bucket ${this.bucket}`);
      throw err;
    }
  }

  /** A named key's bytes, or null when it does not exist. */
  async getKey(key: string): Promise<Buffer | null> {
    try {
      return await this.retry(`GET ${key}`, async () => {
        const out = await this.s3.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        const body = Buffer.from(await out.Body!.transformToByteArray());
        this.stats.bytesDownloaded += body.length;
        return body;
      });
    } catch (err) {
      if (isS3NotFound(err)) return null;
      throw err;
    }
  }

  /** Write a named key (manifests, pointers, build markers); verified by size afterwards. */
  async putKey(key: string, body: Uint8Array | string, contentType = 'application/json'): Promise<void> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const md5 = createHash('md5').update(bytes).digest('base64');
    await this.retry(`PUT ${key}`, () =>
      this.s3.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentLength: bytes.length, ContentMD5: md5, ContentType: contentType }),
      ),
    );
    this.stats.bytesUploaded += bytes.length;
    const stored = await this.head(key);
    if (!stored || stored.bytes !== bytes.length) {
      throw new IntegrityError(`${key}: wrote ${bytes.length} bytes but the store holds ${stored ? stored.bytes : 'nothing'}`);
    }
  }

  /** Remove a named key (a staging object nobody will read); absent keys are no error. */
  async deleteKey(key: string): Promise<void> {
    await this.retry(`DELETE ${key}`, () => this.s3.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  /** Keys under a prefix; with a delimiter, also the common prefixes ("folders") one level down. */
  async list(prefix: string, delimiter?: string): Promise<{ keys: { key: string; bytes: number; modified?: Date }[]; prefixes: string[] }> {
    const keys: { key: string; bytes: number; modified?: Date }[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.retry(`LIST ${prefix}`, () =>
        this.s3.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token })),
      );
      for (const c of out.Contents ?? []) if (c.Key) keys.push({ key: c.Key, bytes: c.Size ?? 0, modified: c.LastModified });
      for (const p of out.CommonPrefixes ?? []) if (p.Prefix) prefixes.push(p.Prefix);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return { keys, prefixes };
  }
}

async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('base64');
}

function writeChunk(writer: NodeJS.WritableStream, chunk: Buffer): Promise<void> {
  return new Promise((res, rej) => {
    writer.write(chunk, (err) => (err ? rej(err) : res()));
  });
}

/** An object streaming past the size its manifest gives. */
function oversized(key: string, expected: number, seen: number): IntegrityError {
  return new IntegrityError(`object ${key.slice(key.lastIndexOf('/') + 1)}: the download passed the manifest's size (${seen} bytes > ${expected}); aborted`);
}
