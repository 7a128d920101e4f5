import { redactUrl } from '../log';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { join } from 'path';
import { configuredS3Endpoint, loadConfig, type Config } from '../config';
import { ServiceError } from '../errors';
import { openDataset, type Dataset, type OpenOptions } from '../storage/dataset';
import { startEmbeddedS3, type EmbeddedS3 } from '../storage/embedded';
import type { ObjectStore } from '../storage/objects';
import { createS3Client, isS3NotFound, isTransientS3Error, withS3Retry } from '../storage/s3';
import { openStore, storeOptionsFromArgs, type StoreOptions } from '../storage/store';
import { parseDatasetRef } from '../storage/versions';
import type { ParsedArgs } from './args';

/** The dataset store a command works on, and how to let go of it. */
export interface CommandStore {
  store: ObjectStore;
  /** Options that reach the same store again (storage's openDataset takes these). */
  storeOpts: StoreOptions & { bucket: string };
  /** Where datasets go, for people: endpoint and bucket (and the folder of an embedded store). */
  where: string;
  embedded?: EmbeddedS3;
  close(): Promise<void>;
}

/** How long the first request to an explicit endpoint may take before the command gives up. */
const REACH_DEADLINE_MS = 3_000;

/**
 * The store from --endpoint/--bucket/... or the environment. With no endpoint configured anywhere
 * (and `embedded`, the default), an s3rver on a free loopback port over ZC_HOME/s3 serves it for
 * the life of the command: the store `run` publishes into is the one `ls`, `pull`, `query`... read.
 * An explicit endpoint is probed first, so one that refuses or does not answer fails in seconds.
 */
export async function openCommandStore(
  args: ParsedArgs,
  config: Config = loadConfig(),
  opts: { embedded?: boolean; probe?: boolean } = {},
): Promise<CommandStore> {
  const fromArgs = storeOptionsFromArgs(args.options);
  const bucket = fromArgs.bucket ?? config.S3_BUCKET;
  const endpoint = fromArgs.endpoint ?? configuredS3Endpoint(config);
  if ((opts.embedded ?? true) && endpoint === undefined) {
    const embedded = await startEmbeddedS3({ dir: join(config.ZC_HOME, 's3'), bucket });
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
  const store = openStore(storeOpts);
  if (endpoint !== undefined && (opts.probe ?? true)) await checkReachable(store, endpoint);
  return { store, storeOpts, where: `${endpoint !== undefined ? redactUrl(endpoint) : 'AWS S3'}, bucket ${bucket}`, close: async () => undefined };
}

/** Run `body` with the command's store open; the embedded server (if any) stops afterwards. */
export async function withCommandStore<T>(args: ParsedArgs, body: (cs: CommandStore) => Promise<T>): Promise<T> {
  const cs = await openCommandStore(args);
  try {
    return await body(cs);
  } finally {
    await cs.close();
  }
}

/**
 * One request with a short deadline: a refused connection, a timeout or a 5xx means nothing
 * useful will come from this endpoint, so the command stops here (exit 4) instead of retrying
 * for S3_RETRY_DEADLINE_MS. Any other answer (even 403 or 404) shows a server is there; the
 * command's own requests then check the credentials.
 */
async function checkReachable(store: ObjectStore, endpoint: string): Promise<void> {
  // Unsigned: whether the server answers is a separate question from whether our credentials work.
  const probe = createS3Client({ endpoint, anonymous: true }).client;
  try {
    await withS3Retry(`HEAD bucket ${store.bucket}`, () => probe.send(new HeadBucketCommand({ Bucket: store.bucket })), {
      deadlineMs: REACH_DEADLINE_MS,
    });
  } catch (err) {
    if (isS3NotFound(err) || !(err instanceof ServiceError) || !unreachable(err.cause)) return;
    throw new ServiceError(
      `cannot reach S3 at ${redactUrl(endpoint)}: ${err.message.replace(/^S3 [^:]*: /, '')} (check --endpoint / S3_ENDPOINT, or unset them to use the embedded store under ZC_HOME)`,
    );
  } finally {
    probe.destroy();
  }
}

/** Retrying cannot help and the server never answered: refused, timed out, 5xx, or no such host. */
function unreachable(err: unknown): boolean {
  return isTransientS3Error(err) || /ENOTFOUND/.test(String((err as { code?: string })?.code ?? (err as Error)?.message));
}

/** A local NASLib json file or pulled directory rather than a dataset name (names have no '/'). */
function isLocalSource(arg: string): boolean {
  return !arg.startsWith('s3://') && (arg.includes('/') || arg.endsWith('.json'));
}

/**
 * What `query` and `report` take as their dataset argument: D[@VERSION] in the command's store,
 * s3://BUCKET/D[@VERSION], a directory written by `zcbench pull`, or a NASLib zc_<space>.json.
 * Local sources are read directly, without starting a store.
 */
export async function openDatasetSource(arg: string, args: ParsedArgs, opts: Pick<OpenOptions, 'only'> = {}): Promise<Dataset> {
  if (isLocalSource(arg)) return openDataset(arg, undefined, opts);
  return withCommandStore(args, async (cs) => {
    if (arg.startsWith('s3://')) return openDataset(arg, undefined, { ...cs.storeOpts, ...opts });
    const ref = parseDatasetRef(arg);
    return openDataset(`s3://${cs.storeOpts.bucket}/${ref.dataset}`, ref.version, { ...cs.storeOpts, ...opts });
  });
}
