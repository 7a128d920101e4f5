import type { Redis } from 'ioredis';
import { totalmem } from 'os';
import { join } from 'path';
import { configuredS3Endpoint, type Config } from '../config';
import { redactUrl } from '../log';
import { connectRedis } from '../queue/connection';
import { startEmbeddedS3, type EmbeddedS3 } from '../storage/embedded';
import type { ObjectStore } from '../storage/objects';
import { openStore, storeOptionsFromArgs, type StoreOptions } from '../storage/store';
import type { ParsedArgs } from './args';

/**
 * What the pipeline commands (produce, work, aggregate, run, status) share: Redis, the dataset
 * store (or the embedded one), budgets, and a progress line.
 */
export function openPipelineRedis(config: Config): Promise<Redis> {
  return connectRedis(config.REDIS_URL);
}

export interface PipelineStore {
  store: ObjectStore;
  /** Options that reach the same store again (storage's openDataset takes these). */
  storeOpts: StoreOptions & { bucket: string };
  /** Where datasets go, for people: endpoint and bucket (and the folder of an embedded store). */
  where: string;
  embedded?: EmbeddedS3;
  close(): Promise<void>;
}

/**
 * The store from --endpoint/--bucket/... or the environment. With `embedded`, and no endpoint
 * configured anywhere, an s3rver under ZC_HOME/s3 serves it (the demo's default).
 */
export async function openPipelineStore(args: ParsedArgs, config: Config, opts: { embedded?: boolean } = {}): Promise<PipelineStore> {
  const fromArgs = storeOptionsFromArgs(args.options);
  const bucket = fromArgs.bucket ?? config.S3_BUCKET;
  if (opts.embedded && fromArgs.endpoint === undefined && configuredS3Endpoint(config) === undefined) {
    const dir = join(config.ZC_HOME, 's3');
    const embedded = await startEmbeddedS3({ dir, bucket });
    const storeOpts = { ...fromArgs, bucket, endpoint: embedded.endpoint, credentials: embedded.credentials };
    return {
      store: openStore(storeOpts),
      storeOpts,
      where: `embedded S3 at ${embedded.endpoint}, bucket ${bucket}, data in ${embedded.dir}`,
      embedded,
      close: () => embedded.stop(),
    };
  }
  const storeOpts = { ...fromArgs, bucket };
  const endpoint = fromArgs.endpoint ?? configuredS3Endpoint(config);
  return { store: openStore(storeOpts), storeOpts, where: `${endpoint !== undefined ? redactUrl(endpoint) : 'AWS S3'}, bucket ${bucket}`, close: async () => undefined };
}

/** Memory budgets of the two pools, bytes (ZC_WORKER_MEMORY_MB; ZC_HEAVY_MEMORY_MB or 80 % of this machine). */
export function poolBudgets(config: Config): { lightBytes: number; heavyBytes: number } {
  const total = totalmem();
  return {
    lightBytes: config.ZC_WORKER_MEMORY_MB * 2 ** 20,
    heavyBytes: config.ZC_HEAVY_MEMORY_MB !== undefined ? config.ZC_HEAVY_MEMORY_MB * 2 ** 20 : Math.floor(total * 0.8),
  };
}

/** One progress line on stderr: rewritten in place on a terminal, else printed every few seconds. */
export class ProgressLine {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;

  update(text: string, force = false): void {
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${text}`);
    } else if (force || Date.now() - this.last >= 5000) {
      this.last = Date.now();
      process.stderr.write(text + '\n');
    }
  }

  done(text?: string): void {
    if (text !== undefined) this.update(text, true);
    if (this.tty) process.stderr.write('\n');
  }
}

/** "1 h 02 min", "3 min 05 s", "12 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}
