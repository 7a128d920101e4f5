import { mkdirSync } from 'fs';
import type { Server } from 'http';
import type { AddressInfo } from 'net';
import { resolve } from 'path';
import { loadConfig } from '../config';
import { ServiceError } from '../errors';
import { logger } from '../log';

// s3rver has no type declarations; this is the part of its API we use.
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

/** s3rver's fixed account: it verifies signatures made with these keys (unsigned requests pass too). */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  bucket: string;
  dir: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

/** Where `zcbench run` and the demo keep the embedded store: `<ZC_HOME>/s3` (default ./.zcbench/s3). */
export function defaultEmbeddedS3Dir(): string {
  return resolve(loadConfig().ZC_HOME, 's3');
}

/**
 * A real S3 API server (s3rver) on 127.0.0.1 storing objects under `dir`, with `bucket` (default
 * S3_BUCKET) created. Port 0 picks a free port. Data persists in `dir` across restarts.
 */
export async function startEmbeddedS3(opts: { dir?: string; port?: number; bucket?: string } = {}): Promise<EmbeddedS3> {
  const dir = resolve(opts.dir ?? defaultEmbeddedS3Dir());
  const bucket = opts.bucket ?? loadConfig().S3_BUCKET;
  mkdirSync(dir, { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require('s3rver') as S3rverConstructor;
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    directory: dir,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    throw new ServiceError(`embedded S3 could not listen on 127.0.0.1:${opts.port ?? 0}: ${(err as Error).message}`);
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  logger.debug({ endpoint, dir, bucket }, 'embedded s3 started');
  let stopped = false;
  return {
    endpoint,
    port: address.port,
    bucket,
    dir,
    credentials: { ...EMBEDDED_S3_CREDENTIALS },
    async stop() {
      if (stopped) return;
      stopped = true;
      const http = server.httpServer;
      if (!http) return;
      // Clients keep connections alive; close them or close() waits for their idle timeout.
      const closed = new Promise<void>((res) => http.close(() => res()));
      http.closeAllConnections();
      await closed;
    },
  };
}
