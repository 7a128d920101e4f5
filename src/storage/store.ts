import { loadConfig } from '../config';
import { InputError } from '../errors';
import { redactUrl } from '../log';
import { ObjectStore } from './objects';
import { createS3Client, type S3Options } from './s3';

/** Where to read or publish datasets: S3 options plus the bucket (default S3_BUCKET). */
export interface StoreOptions extends S3Options {
  bucket?: string;
}

/** The command-line options every dataset command takes to reach a store. */
export const STORE_OPTION_SPECS = [
  {
    name: 'endpoint',
    value: true,
    description: 'S3-compatible endpoint URL (default: S3_ENDPOINT / AWS_ENDPOINT_URL, else the embedded store under ZC_HOME; produce and aggregate: AWS)',
  },
  { name: 'bucket', value: true, description: 'bucket (default: S3_BUCKET, "zcbench")' },
  { name: 'profile', value: true, description: 'AWS profile for credentials' },
  { name: 'anonymous', value: false, description: 'unsigned requests (public buckets)' },
];

export function openStore(opts: StoreOptions = {}): ObjectStore {
  const config = loadConfig();
  if (opts.endpoint !== undefined) {
    try {
      const u = new URL(opts.endpoint);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    } catch {
      throw new InputError('--endpoint', redactUrl(opts.endpoint), 'an http:// or https:// URL');
    }
  }
  const bucket = opts.bucket ?? config.S3_BUCKET;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new InputError('--bucket', bucket, 'an S3 bucket name (3-63 of a-z, 0-9, ".", "-")');
  return new ObjectStore(createS3Client(opts, config), bucket);
}

/** `s3://bucket/dataset[@version]` → its parts; undefined when `location` is not an s3:// URL. */
export function parseS3Location(location: string): { bucket: string; dataset: string; version?: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/([^/@]+)(?:@([^/]+))?\/?$/.exec(location);
  if (!location.startsWith('s3://')) return undefined;
  if (!m) throw new InputError('location', location, 's3://BUCKET/DATASET[@VERSION] or a local directory');
  return m[3] === undefined || m[3] === 'latest' ? { bucket: m[1]!, dataset: m[2]! } : { bucket: m[1]!, dataset: m[2]!, version: m[3] };
}

/** StoreOptions from parsed command-line options (see STORE_OPTION_SPECS). */
export function storeOptionsFromArgs(options: ReadonlyMap<string, string | true>): StoreOptions {
  const get = (name: string) => {
    const v = options.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const opts: StoreOptions = {};
  const endpoint = get('endpoint');
  const bucket = get('bucket');
  const profile = get('profile');
  if (endpoint !== undefined) opts.endpoint = endpoint;
  if (bucket !== undefined) opts.bucket = bucket;
  if (profile !== undefined) opts.profile = profile;
  if (options.get('anonymous') === true) opts.anonymous = true;
  return opts;
}
