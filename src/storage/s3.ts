import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { configuredS3Endpoint, loadConfig, type Config } from '../config';
import { NotFoundError, ServiceError } from '../errors';
import { logger } from '../log';

/** Where a dataset store lives: a bucket on an S3-compatible endpoint (or AWS when no endpoint). */
export interface S3Options {
  /** Custom endpoint (s3rver, MinIO, R2...). Default: S3_ENDPOINT, then AWS_ENDPOINT_URL, else AWS. */
  endpoint?: string;
  region?: string;
  /** Named profile of the shared AWS config/credentials files. */
  profile?: string;
  /** Unsigned requests, for public buckets: no credentials are looked up. */
  anonymous?: boolean;
  /** Explicit credentials (the embedded s3rver's); otherwise the AWS SDK default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** How long one operation retries transient failures, ms. Default: S3_RETRY_DEADLINE_MS. */
  retryDeadlineMs?: number;
}

/** An S3 client plus the retry budget its callers apply (the SDK's own retries are off: one policy, ours). */
export interface S3Handle {
  client: S3Client;
  endpoint: string | undefined;
  retryDeadlineMs: number;
}

/**
 * The one S3 client factory. Checksums only when required and path-style addressing: S3-compatible
 * servers (s3rver in particular) corrupt streamed uploads or lack virtual-host buckets otherwise.
 */
export function createS3Client(opts: S3Options = {}, config: Config = loadConfig()): S3Handle {
  const endpoint = opts.endpoint ?? configuredS3Endpoint(config);
  // Node 20 is this project's runtime; the SDK's multi-line notice about Node 22 would precede every CLI answer.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const clientConfig: S3ClientConfig = {
    region: opts.region ?? config.AWS_REGION,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  };
  if (endpoint) {
    clientConfig.endpoint = endpoint;
    clientConfig.forcePathStyle = true;
  }
  if (opts.profile) clientConfig.profile = opts.profile;
  if (opts.anonymous) {
    // Placeholder identity so the SDK does not search for credentials; the signer leaves the request unsigned.
    clientConfig.credentials = { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' };
    clientConfig.signer = { sign: async (request) => request };
  } else if (opts.credentials) {
    clientConfig.credentials = opts.credentials;
  }
  return {
    client: new S3Client(clientConfig),
    endpoint,
    retryDeadlineMs: opts.retryDeadlineMs ?? config.S3_RETRY_DEADLINE_MS,
  };
}

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'InternalError',
  'ServiceUnavailable',
  'NetworkingError',
]);

/** Whether retrying can help: the server is unreachable, overloaded or failed internally. */
export function isTransientS3Error(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const a = e as AwsLikeError;
    if (a.code && TRANSIENT_CODES.has(a.code)) return true;
    if (a.name && TRANSIENT_NAMES.has(a.name)) return true;
    const status = a.$metadata?.httpStatusCode;
    if (status !== undefined && (status >= 500 || status === 429)) return true;
    if (a.$retryable) return true;
    if (typeof a.message === 'string' && /socket hang up|ECONNREFUSED|ECONNRESET/.test(a.message)) return true;
    e = a.cause;
  }
  return false;
}

/** HTTP 404 / NoSuchKey / NotFound: the key is absent (callers decide what absence means). */
export function isS3NotFound(err: unknown): boolean {
  const a = err as AwsLikeError | undefined;
  if (!a || typeof a !== 'object') return false;
  return a.name === 'NoSuchKey' || a.name === 'NotFound' || a.$metadata?.httpStatusCode === 404;
}

/** One line: the S3 error code and HTTP status, or the innermost network error (the SDK wraps those). */
function describe(err: unknown): string {
  let a = err as AwsLikeError;
  if (!a || typeof a !== 'object') return String(err);
  const status = a.$metadata?.httpStatusCode;
  if (status === undefined) {
    for (let depth = 0; depth < 4 && a.cause && typeof a.cause === 'object'; depth++) a = a.cause as AwsLikeError;
  }
  const code = a.code ?? a.name ?? 'Error';
  const message = a.message ?? '';
  return `${message.includes(code) ? '' : code}${status ? ` (HTTP ${status})` : ''}${message.includes(code) ? '' : ': '}${message}`.trim();
}

export interface RetryOptions {
  deadlineMs: number;
  /** First back-off delay; doubles each attempt (with jitter) up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Run an S3 operation, retrying transient failures with exponential back-off until the deadline.
 * `op` is called afresh for every attempt (request bodies that are streams must be recreated).
 * A missing bucket is a NotFoundError; other 404s are rethrown unchanged (callers decide what a
 * missing key means); any other final failure becomes a ServiceError naming the operation.
 */
export async function withS3Retry<T>(what: string, op: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const started = Date.now();
  let delay = opts.initialDelayMs ?? 100;
  const maxDelay = opts.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if ((err as AwsLikeError | undefined)?.name === 'NoSuchBucket') throw new NotFoundError(`S3 ${what}: the bucket does not exist`);
      if (isS3NotFound(err)) throw err;
      if ((err as AwsLikeError | undefined)?.name === 'CredentialsProviderError') {
        throw new ServiceError(
          `S3 ${what}: no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile; --anonymous for a public bucket; ` +
            'with no S3_ENDPOINT and no --endpoint the embedded store under ZC_HOME needs none)',
          { cause: err },
        );
      }
      if (err instanceof ServiceError) throw err;
      const transient = isTransientS3Error(err);
      const elapsed = Date.now() - started;
      if (!transient || elapsed + delay > opts.deadlineMs) {
        const why = transient ? `still failing after ${attempt} attempt${attempt === 1 ? '' : 's'} over ${(elapsed / 1000).toFixed(1)} s` : 'not retryable';
        throw new ServiceError(`S3 ${what} failed (${why}): ${describe(err)}`, { cause: err });
      }
      // A first failure is routine (a keep-alive socket the server closed while we were busy); a repeat is news.
      logger[attempt === 1 ? 'debug' : 'warn']({ op: what, attempt, delayMs: delay, err: describe(err) }, 's3 transient failure, retrying');
      // Jitter in [0.5, 1) of the delay keeps many retrying clients from hammering in lockstep.
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
      delay = Math.min(maxDelay, delay * 2);
    }
  }
}
