import { z } from 'zod';
import type { BackendSettings } from './core/backend';
import { BACKENDS } from './core/names';
import { InputError } from './errors';
import { redactUrl } from './log';

/** An empty variable (`ZC_BACKEND=`) means unset. */
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);

/**
 * The one configuration loader: every setting comes from the environment and is validated
 * here. Credentials are not part of it: the AWS SDK's default chain (env, profile, IMDS) applies.
 */
export const ConfigSchema = z.object({
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** S3-compatible endpoint; unset means "start the embedded s3rver" for the demo, AWS otherwise. */
  S3_ENDPOINT: z.string().url().optional(),
  AWS_ENDPOINT_URL: z.string().url().optional(),
  S3_BUCKET: z.string().min(3).default('zcbench'),
  AWS_REGION: z.string().default('us-east-1'),
  /** How long an S3 operation keeps retrying transient failures (S3 down, 5xx, throttling) before giving up, ms. */
  S3_RETRY_DEADLINE_MS: z.coerce.number().int().min(0).default(120_000),
  /** Backend for the compute core: node (tfjs-node), wasm, hybrid or cpu. Unset: best available. */
  ZC_BACKEND: z.preprocess(unsetIfEmpty, z.enum(BACKENDS).optional()),
  /** Threads the hybrid backend's convolutions use (the main one included); unset: every core. */
  ZC_HYBRID_THREADS: z.preprocess(unsetIfEmpty, z.coerce.number().int().positive().optional()),
  /** Most wasm heaps (threads) one job's minibatch may be split between when it does not fit one; 1: never (hybrid). Unset: 8. */
  ZC_WASM_SHARDS: z.preprocess(unsetIfEmpty, z.coerce.number().int().positive().optional()),
  /** Split every job between at least this many wasm heaps where each fits (a one-job pod: its cores). Unset: 1. */
  ZC_WASM_MIN_SHARDS: z.preprocess(unsetIfEmpty, z.coerce.number().int().positive().optional()),
  /** Memory budget of one worker process's jobs, in MiB (light pool). */
  ZC_WORKER_MEMORY_MB: z.coerce.number().int().positive().default(3072),
  /** Memory budget of one heavy-pool job, in MiB; unset: 80 % of this machine's memory. */
  ZC_HEAVY_MEMORY_MB: z.coerce.number().int().positive().optional(),
  /**
   * A compute job's deadline (its child is then killed and the job retried): the larger of
   * ZC_JOB_DEADLINE_MIN_S and ZC_JOB_DEADLINE_S_PER_GIB seconds per GiB of its memory plan (work grows with it).
   */
  ZC_JOB_DEADLINE_MIN_S: z.coerce.number().positive().default(600),
  ZC_JOB_DEADLINE_S_PER_GIB: z.coerce.number().min(0).default(1200),
  /** How long a worker keeps retrying an infrastructure failure (Redis errors or unreachable) before giving up, s. */
  ZC_INFRA_RETRY_MAX_S: z.coerce.number().positive().default(600),
  /** Longest single wait between those retries (the waits double up to it), s. */
  ZC_INFRA_RETRY_CAP_S: z.coerce.number().positive().default(30),
  /** Entries of a build's results stream above which workers pause its jobs until the aggregator drains it. */
  ZC_RESULTS_HIGH_WATER: z.coerce.number().int().positive().default(200_000),
  /**
   * "1": workers run jobs naming user proxy modules (docs/writing-a-proxy.md). A module is code run
   * with the worker's rights, so the default refuses them (their triples become `failed` rows).
   */
  ZC_ALLOW_PROXY_MODULES: z.preprocess(
    unsetIfEmpty,
    z
      .enum(['0', '1'])
      .transform((v) => v === '1')
      .default(false),
  ),
  /** BullMQ key prefix of the zc-light/zc-heavy queues (a test or a second deployment isolates itself with its own). */
  ZC_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('bull'),
  /** Local state: embedded S3 data, download cache. */
  ZC_HOME: z.string().default('.zcbench'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Port of the Prometheus `/metrics` (and `/healthz`) endpoint of workers, aggregator and dashboard; 0 = any free port. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /** Port of `zcbench dashboard` (Bull Board); 0 = any free port. */
  DASHBOARD_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Address `zcbench dashboard` binds. Loopback by default; any other address requires DASHBOARD_TOKEN. */
  DASHBOARD_HOST: z.string().min(1).default('127.0.0.1'),
  /** Token the dashboard requires (`Authorization: Bearer <token>`, or basic auth with it as password); ≥ 16 characters. */
  DASHBOARD_TOKEN: z.string().min(16).optional(),
  /** The dashboard only shows queues unless this is "false" (then it can retry, clean and remove jobs). */
  DASHBOARD_READ_ONLY: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .default(true),
});

export type Config = z.infer<typeof ConfigSchema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.');
    throw new InputError(`environment variable ${field}`, printable(field, env[field]), issue.message);
  }
  return parsed.data;
}

/**
 * The compute core's backend settings (`initBackend`'s argument), from ZC_BACKEND, ZC_HYBRID_THREADS,
 * ZC_WASM_SHARDS and ZC_WASM_MIN_SHARDS only: a compute child or `zcbench compute` must not fail on another variable.
 */
export function backendSettings(env: NodeJS.ProcessEnv = process.env): BackendSettings {
  const backend = ConfigSchema.shape.ZC_BACKEND.safeParse(env.ZC_BACKEND);
  if (!backend.success) throw new InputError('ZC_BACKEND', env.ZC_BACKEND, `one of ${BACKENDS.join(', ')}`);
  const count = (name: 'ZC_HYBRID_THREADS' | 'ZC_WASM_SHARDS' | 'ZC_WASM_MIN_SHARDS') => {
    const parsed = ConfigSchema.shape[name].safeParse(env[name]);
    if (!parsed.success) throw new InputError(name, env[name], 'a positive integer');
    return parsed.data;
  };
  return { backend: backend.data, threads: count('ZC_HYBRID_THREADS'), shards: count('ZC_WASM_SHARDS'), minShards: count('ZC_WASM_MIN_SHARDS') };
}

/** A setting's value as an error may show it: secrets hidden, URLs without their credentials. */
function printable(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return value;
  if (/TOKEN|PASSWORD|SECRET/.test(field)) return `(${value.length} characters, hidden)`;
  return /URL|ENDPOINT/.test(field) ? redactUrl(value) : value;
}

/** The S3 endpoint a user configured, if any (S3_ENDPOINT wins over AWS_ENDPOINT_URL). */
export function configuredS3Endpoint(config: Config): string | undefined {
  return config.S3_ENDPOINT ?? config.AWS_ENDPOINT_URL;
}
