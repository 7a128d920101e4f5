import { readFileSync } from 'fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'http';
import type { AddressInfo } from 'net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { InputError, ServiceError } from '../errors';
import { logger } from '../log';

/**
 * Prometheus metrics of zcbench processes (workers, aggregator, dashboard), served on `/metrics`.
 * One `Metrics` per process; callers record through the functions below and never touch prom-client.
 */

/** Queue states reported by `collectQueueDepths`, as BullMQ's `getJobCounts` names them. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** What `collectQueueDepths` needs of a queue: a BullMQ `Queue` fits. */
export interface QueueCountSource {
  readonly name: string;
  getJobCounts(...types: QueueState[]): Promise<Record<string, number>>;
}

/** One build's results stream, as `collectResultsStreams` reads it (src/queue/results.ts's `resultsStreamStats` fits). */
export interface ResultsStreamReading {
  buildId: string;
  /** Entries in the stream. */
  length: number;
  /** Entries the aggregator has not read yet. */
  lag: number;
  /** Entries read, not yet acknowledged. */
  pending: number;
  /** Seconds since the build was created. */
  ageSeconds: number;
}

export interface TripleLabels {
  space: string;
  task: string;
  proxy: string;
}

export interface Metrics {
  readonly registry: Registry;
  /** A triple finished `ok`; `seconds` is its recorded time. */
  tripleDone(t: TripleLabels & { seconds: number }): void;
  /** A triple finished `failed`; `reason` is reduced to a short class (see `reasonClass`). */
  tripleFailed(t: TripleLabels & { reason: string }): void;
  /** Set one queue's job count in one state (for processes that already know it). */
  setQueueDepth(queue: string, state: QueueState, n: number): void;
  /** Read these queues' job counts from Redis at every scrape (what KEDA's scaling query uses). */
  collectQueueDepths(queues: readonly QueueCountSource[]): void;
  /** Read the unpublished builds' results streams at every scrape (the back-pressure and lag alarms). */
  collectResultsStreams(read: () => Promise<ResultsStreamReading[]>): void;
  /** The aggregator moved `latest` of `dataset` to `version`. */
  setLastPublished(dataset: string, version: string): void;
}

export const METRIC_NAMES = {
  tripleDone: 'zcbench_triples_done_total',
  tripleFailed: 'zcbench_triples_failed_total',
  tripleDuration: 'zcbench_triple_duration_seconds',
  queueJobs: 'zcbench_queue_jobs',
  publishedInfo: 'zcbench_dataset_published_info',
  publishedTime: 'zcbench_dataset_published_timestamp_seconds',
  streamLength: 'zcbench_results_stream_entries',
  streamLag: 'zcbench_results_consumer_lag',
  streamPending: 'zcbench_results_consumer_pending',
  buildAge: 'zcbench_build_age_seconds',
  containerMemory: 'zcbench_container_memory_bytes',
  containerMemoryLimit: 'zcbench_container_memory_limit_bytes',
  containerMemoryPeak: 'zcbench_container_memory_peak_bytes',
} as const;

/** Proxies take from milliseconds (params, flops) to many minutes (grasp on a big network, on CPU). */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/**
 * Failure reasons become a label, so they must stay few: keep the words before the first ':' and
 * drop numbers ("out of memory on the heavy pool at batch size 16: ..." →
 * "out_of_memory_on_the_heavy_pool_at_batch_size", "failed after 4 attempts: ..." → "failed_after_attempts").
 */
export function reasonClass(reason: string): string {
  const head = reason
    .split(':')[0]!
    .toLowerCase()
    .replace(/[0-9]+/g, ' ');
  const words = head
    .replace(/[^a-z]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 64)
    .replace(/_+$/, '');
  return words || 'unknown';
}

export function createMetrics(registry: Registry = new Registry(), opts: { defaultMetrics?: boolean } = {}): Metrics {
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const done = new Counter({
    name: METRIC_NAMES.tripleDone,
    help: 'Triples (architecture, task, proxy) computed successfully.',
    labelNames: ['space', 'task', 'proxy'] as const,
    registers: [registry],
  });
  const failed = new Counter({
    name: METRIC_NAMES.tripleFailed,
    help: 'Triples that ended failed, by reason class.',
    labelNames: ['space', 'task', 'proxy', 'reason'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: METRIC_NAMES.tripleDuration,
    help: 'Recorded time of a successful triple, in seconds.',
    labelNames: ['proxy'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });

  const polled: QueueCountSource[] = [];
  const queueJobs = new Gauge({
    name: METRIC_NAMES.queueJobs,
    help: 'Jobs in a BullMQ queue by state (waiting + prioritized + active is the scaling signal).',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      // A scrape must not fail because Redis hiccuped: keep the last values and log.
      await Promise.all(
        polled.map(async (q) => {
          try {
            const counts = await q.getJobCounts(...QUEUE_STATES);
            for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
          } catch (err) {
            logger.warn({ queue: q.name, err: String(err) }, 'metrics: cannot read queue depth');
          }
        }),
      );
    },
  });

  const publishedInfo = new Gauge({
    name: METRIC_NAMES.publishedInfo,
    help: 'Version that `latest` points to, per dataset (value 1; the version is a label).',
    labelNames: ['dataset', 'version'] as const,
    registers: [registry],
  });
  const publishedTime = new Gauge({
    name: METRIC_NAMES.publishedTime,
    help: 'Unix time of the last publish of a dataset by this process.',
    labelNames: ['dataset'] as const,
    registers: [registry],
  });
  const lastVersion = new Map<string, string>();

  registerContainerMemory(registry);
  const collectStreams = registerResultsStreams(registry);

  return {
    registry,
    tripleDone({ space, task, proxy, seconds }) {
      if (!Number.isFinite(seconds) || seconds < 0) throw new InputError('seconds', seconds, 'a finite number ≥ 0');
      done.inc({ space, task, proxy });
      duration.observe({ proxy }, seconds);
    },
    tripleFailed({ space, task, proxy, reason }) {
      failed.inc({ space, task, proxy, reason: reasonClass(reason) });
    },
    setQueueDepth(queue, state, n) {
      if (!QUEUE_STATES.includes(state)) throw new InputError('state', state, `one of ${QUEUE_STATES.join(', ')}`);
      if (!Number.isInteger(n) || n < 0) throw new InputError('n', n, 'an integer ≥ 0');
      queueJobs.set({ queue, state }, n);
    },
    collectQueueDepths(queues) {
      for (const q of queues) if (!polled.includes(q)) polled.push(q);
    },
    collectResultsStreams(read) {
      collectStreams(read);
    },
    setLastPublished(dataset, version) {
      const previous = lastVersion.get(dataset);
      if (previous !== undefined && previous !== version) publishedInfo.remove({ dataset, version: previous });
      publishedInfo.set({ dataset, version }, 1);
      publishedTime.set({ dataset }, Date.now() / 1000);
      lastVersion.set(dataset, version);
    },
  };
}

/**
 * Per unpublished build: its results stream's length, the aggregator's lag and pending entries,
 * and its age. One read serves the four gauges of a scrape; a build that is published (or gone)
 * loses its series. Returns the function that sets the reader.
 */
function registerResultsStreams(registry: Registry): (read: () => Promise<ResultsStreamReading[]>) => void {
  let reader: (() => Promise<ResultsStreamReading[]>) | undefined;
  let reading: { at: number; value: Promise<ResultsStreamReading[] | undefined> } | undefined;
  const snapshot = () => {
    if (!reader) return Promise.resolve(undefined);
    if (!reading || Date.now() - reading.at > 1000) {
      // A scrape must not fail because Redis hiccuped: keep the last values and log.
      const value = reader().catch((err: unknown) => {
        logger.warn({ err: String(err) }, 'metrics: cannot read the results streams');
        return undefined;
      });
      reading = { at: Date.now(), value };
    }
    return reading.value;
  };
  const gauge = (name: string, help: string, field: Exclude<keyof ResultsStreamReading, 'buildId'>) =>
    new Gauge({
      name,
      help,
      labelNames: ['build'] as const,
      registers: [registry],
      async collect() {
        const streams = await snapshot();
        if (!streams) return;
        this.reset();
        for (const s of streams) this.set({ build: s.buildId }, s[field]);
      },
    });
  gauge(METRIC_NAMES.streamLength, "Entries in an unpublished build's results stream (rows not yet in an S3 segment).", 'length');
  gauge(METRIC_NAMES.streamLag, 'Results-stream entries the aggregator has not read yet.', 'lag');
  gauge(METRIC_NAMES.streamPending, 'Results-stream entries the aggregator read but has not acknowledged.', 'pending');
  gauge(METRIC_NAMES.buildAge, 'Seconds since an unpublished build was created.', 'ageSeconds');
  return (read) => {
    reader = read;
  };
}

/**
 * The container's memory as the OOM killer sees it (cgroup v2, else v1): compute runs in child
 * processes, so the serving process's own RSS says little about how close a pod is to its limit.
 */
function registerContainerMemory(registry: Registry): void {
  const v2 = { usage: '/sys/fs/cgroup/memory.current', limit: '/sys/fs/cgroup/memory.max', peak: '/sys/fs/cgroup/memory.peak' };
  const v1 = {
    usage: '/sys/fs/cgroup/memory/memory.usage_in_bytes',
    limit: '/sys/fs/cgroup/memory/memory.limit_in_bytes',
    peak: '/sys/fs/cgroup/memory/memory.max_usage_in_bytes',
  };
  const files = readBytes(v2.usage) !== undefined ? v2 : readBytes(v1.usage) !== undefined ? v1 : undefined;
  if (!files) return;
  const gauge = (name: string, help: string, file: string) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const n = readBytes(file);
        if (n !== undefined) this.set(n);
      },
    });
  gauge(METRIC_NAMES.containerMemory, 'Memory charged to this container (cgroup), child processes included.', files.usage);
  if (readBytes(files.peak) !== undefined) gauge(METRIC_NAMES.containerMemoryPeak, 'Peak memory charged to this container (cgroup).', files.peak);
  // "max" (v2) or a near-2^63 value (v1) means no limit: then no series, rather than a fake number.
  const limit = readBytes(files.limit);
  if (limit !== undefined && limit < 2 ** 62) gauge(METRIC_NAMES.containerMemoryLimit, 'Memory limit of this container (cgroup).', files.limit);
}

function readBytes(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serve `GET /metrics` (Prometheus text format) and `GET /healthz` (liveness) on `port` (0 = any free port). */
export async function startMetricsServer({ port, metrics, host = '0.0.0.0' }: { port: number; metrics: Metrics; host?: string }): Promise<MetricsServer> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InputError('metrics port', port, 'an integer in 0..65535');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => {
          logger.error({ err: String(err) }, 'metrics: collection failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
        },
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ServiceError(`cannot serve metrics on ${host}:${port}: ${err.code ?? err.message}`)));
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  logger.info({ port: actual }, 'metrics: serving /metrics');
  return {
    port: actual,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
