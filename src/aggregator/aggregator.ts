import type { Redis } from 'ioredis';
import { hostname } from 'os';
import type { ProxyName } from '../core/names';
import { CancelledError, NotFoundError, ServiceError } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { readBuild, type BuildRecord } from '../queue/build';
import { tryLock, waitForLock, type Lock } from '../queue/lock';
import { AGGREGATOR_GROUP, redisKeys, type RedisKeys } from '../queue/names';
import { REASON_KEY_MAX } from '../queue/results';
import type { ObjectStore } from '../storage/objects';
import { publishVersion, type PublishResult } from '../storage/publish';
import type { ResultRow } from '../storage/rows';
import { rowOfEntry } from './intake';
import { readSegments, writeSegment } from './segments';

export interface AggregatorOptions {
  redis: Redis;
  /** ZC_QUEUE_PREFIX: the deployment whose builds this aggregator publishes. */
  prefix: string;
  store: ObjectStore;
  log: Logger;
  /** Only these builds; default: every unpublished build in `<prefix>:zc:builds`. */
  buildIds?: string[];
  /** Return once every build of `buildIds` is published (for `zcbench run` and tests). Default: run until stopped. */
  untilPublished?: boolean;
  /** Flush a segment once this many new rows wait, or after `flushIntervalMs`. */
  flushRows?: number;
  flushIntervalMs?: number;
  /** Consumer name in the results streams' group. Default: host-pid. */
  consumer?: string;
  metrics?: Metrics;
  onPublished?: (p: PublishedBuild) => void;
}

export interface PublishedBuild {
  buildId: string;
  dataset: string;
  result: PublishResult;
}

/** What the aggregator holds for one build while it owns it. */
interface BuildState {
  buildId: string;
  record: BuildRecord;
  lock: Lock;
  stream: string;
  /** Every triple's row so far (segments + new), by triple id. */
  rows: Map<string, ResultRow>;
  /** New rows not yet in a segment, and the stream entries they came from (acknowledged after the segment). */
  pendingRows: ResultRow[];
  pendingEntries: string[];
  /** Entries not taken as they were since the last flush, by reason (see ./intake.ts). */
  rejected: Map<string, number>;
  nextSeq: number;
  lastFlush: number;
  /** After a failed flush or publish: not before this time again. */
  retryAt: number;
  backoffMs: number;
}

const READ_COUNT = 2000;
const BLOCK_MS = 500;
const LOCK_TTL_MS = 15_000;
/** Build keys outlive the publish this long, so a rerun of the producer still finds its `enqueued` set. */
const KEEP_BUILD_KEYS_S = 30 * 24 * 3600;

/**
 * Consumes the results streams exactly once per triple id, stages rows in S3 segments, and when a
 * build has a row for every expected triple, publishes a version through src/storage.
 */
export class Aggregator {
  private readonly builds = new Map<string, BuildState>();
  /** Builds found published: not looked at again. */
  private readonly finished = new Set<string>();
  private readonly published: PublishedBuild[] = [];
  private readonly consumer: string;
  private readonly keys: RedisKeys;
  private stopping = false;
  private blocking: Redis | null = null;

  constructor(private readonly opts: AggregatorOptions) {
    this.consumer = opts.consumer ?? `${hostname()}-${process.pid}`;
    this.keys = redisKeys(opts.prefix);
  }

  /** Ask the loop to finish: pending rows are flushed and locks released before `run` returns. */
  stop(): void {
    this.stopping = true;
  }

  async run(): Promise<PublishedBuild[]> {
    const { redis, log } = this.opts;
    await this.checkBuildsExist();
    // Blocking reads hold their connection: give them their own.
    this.blocking = redis.duplicate();
    let lastDiscovery = 0;
    try {
      while (!this.stopping) {
        if (Date.now() - lastDiscovery >= 1000) {
          lastDiscovery = Date.now();
          await this.discover();
          if (this.opts.untilPublished && (await this.allPublished())) break;
        }
        const active = [...this.builds.values()];
        if (active.length === 0) {
          await sleep(BLOCK_MS);
          continue;
        }
        await this.read(active);
        for (const b of active) {
          if (!b.lock.held) {
            log.warn({ buildId: b.buildId }, 'aggregator: lost the build lock, leaving the build to its new owner');
            this.builds.delete(b.buildId);
            continue;
          }
          if (Date.now() < b.retryAt) continue;
          const due = b.pendingEntries.length > 0 && (b.pendingRows.length >= (this.opts.flushRows ?? 5000) || Date.now() - b.lastFlush >= (this.opts.flushIntervalMs ?? 1000));
          if (due) await this.flush(b);
        }
        for (const b of active) if (this.builds.has(b.buildId) && Date.now() >= b.retryAt) await this.maybePublish(b);
      }
    } finally {
      for (const b of this.builds.values()) {
        if (b.pendingEntries.length > 0 && b.lock.held) await this.flush(b);
        await b.lock.release().catch(() => undefined);
      }
      this.builds.clear();
      this.blocking.disconnect();
    }
    return this.published;
  }

  /** Take unowned, unpublished builds; refresh the records of the ones held. */
  private async discover(): Promise<void> {
    const { redis } = this.opts;
    const ids = this.opts.buildIds ?? (await redis.smembers(this.keys.builds));
    for (const buildId of ids) {
      const held = this.builds.get(buildId);
      if (held) {
        held.record = await readBuild(redis, this.opts.prefix, buildId);
        if (held.record.state === 'cancelled') await this.drop(held, 'build cancelled: not publishing it');
        continue;
      }
      if (this.finished.has(buildId)) continue;
      const state = await redis.hget(this.keys.build(buildId), 'state');
      if (state === null) continue;
      if (state === 'published' || state === 'cancelled') {
        this.finished.add(buildId);
        continue;
      }
      const lock = await tryLock(redis, this.keys.aggregateLock(buildId), LOCK_TTL_MS);
      if (!lock) continue;
      try {
        this.builds.set(buildId, await this.load(buildId, lock));
      } catch (err) {
        await lock.release();
        this.opts.log.warn({ buildId, err: String(err) }, 'aggregator: cannot load the build yet, will retry');
      }
    }
  }

  private async allPublished(): Promise<boolean> {
    const ids = this.opts.buildIds ?? [];
    if (ids.length === 0) return false;
    const states = await Promise.all(ids.map((id) => this.opts.redis.hget(this.keys.build(id), 'state')));
    const cancelled = ids.filter((_, i) => states[i] === 'cancelled');
    if (cancelled.length > 0) throw new CancelledError(`build ${cancelled.join(', ')} was cancelled (zcbench cancel): it will not be published`);
    return states.every((s) => s === 'published');
  }

  /** Named builds must exist: waiting for one that does not would never end. */
  private async checkBuildsExist(): Promise<void> {
    const ids = this.opts.buildIds ?? [];
    const exists = await Promise.all(ids.map((id) => this.opts.redis.exists(this.keys.build(id))));
    const missing = ids.filter((_, i) => exists[i] === 0);
    if (missing.length === 0) return;
    const known = (await this.opts.redis.smembers(this.keys.builds)).sort();
    const shown = known.length > 5 ? `${known.slice(-5).join(', ')}, …` : known.join(', ') || 'none';
    throw new NotFoundError(`build ${missing.map((id) => JSON.stringify(id)).join(', ')} not found in Redis (builds: ${shown}); \`zcbench produce\` creates it`);
  }

  /** Let go of a build (flushing what it holds) and never take it again. */
  private async drop(b: BuildState, why: string): Promise<void> {
    if (b.pendingEntries.length > 0) await this.flush(b);
    await b.lock.release().catch(() => undefined);
    this.builds.delete(b.buildId);
    this.finished.add(b.buildId);
    this.opts.log.info({ buildId: b.buildId }, `aggregator: ${why}`);
  }

  /** Rebuild a build's state: its segments from S3, then every entry still pending in its stream. */
  private async load(buildId: string, lock: Lock): Promise<BuildState> {
    const { redis, store, log } = this.opts;
    const stream = this.keys.results(buildId);
    try {
      await redis.xgroup('CREATE', stream, AGGREGATOR_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
    const segments = await readSegments(store, buildId);
    const state: BuildState = {
      buildId,
      record: await readBuild(redis, this.opts.prefix, buildId),
      lock,
      stream,
      rows: new Map(),
      pendingRows: [],
      pendingEntries: [],
      rejected: new Map(),
      nextSeq: segments.nextSeq,
      lastFlush: Date.now(),
      retryAt: 0,
      backoffMs: 1000,
    };
    for (const row of segments.rows) this.merge(state, row, false);
    // Entries a crashed aggregator read but never flushed: claim them all (we hold the build lock).
    let cursor = '0-0';
    let claimed = 0;
    do {
      const [next, entries] = (await redis.xautoclaim(stream, AGGREGATOR_GROUP, this.consumer, 0, cursor, 'COUNT', READ_COUNT)) as [string, [string, string[]][]];
      this.ingest(state, entries);
      claimed += entries.length;
      cursor = next;
    } while (cursor !== '0-0');
    log.info({ buildId, segmentRows: segments.rows.length, segments: segments.nextSeq, reclaimed: claimed }, 'aggregator: took the build');
    return state;
  }

  private async read(active: BuildState[]): Promise<void> {
    const keys = active.map((b) => b.stream);
    const reply = (await this.blocking!.xreadgroup(
      'GROUP', AGGREGATOR_GROUP, this.consumer, 'COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...keys.map(() => '>'),
    )) as [string, [string, string[]][]][] | null;
    for (const [key, entries] of reply ?? []) {
      const b = active.find((s) => s.stream === key);
      if (b) this.ingest(b, entries);
    }
  }

  private ingest(b: BuildState, entries: [string, string[] | null][]): void {
    for (const [id, fields] of entries) {
      b.pendingEntries.push(id);
      // A deleted entry still listed as pending comes back without fields.
      if (!fields) continue;
      const text = fields[fields.indexOf('row') + 1];
      const { row, rejected } = rowOfEntry(text);
      if (rejected !== undefined) {
        b.rejected.set(rejected, (b.rejected.get(rejected) ?? 0) + 1);
        this.opts.log.error(
          { buildId: b.buildId, entry: id, text: text?.slice(0, 200), reason: rejected, tripleId: row?.tripleId },
          row ? 'aggregator: malformed result row, recorded as a failed row' : 'aggregator: unreadable result entry, counted as rejected',
        );
      }
      if (row) this.merge(b, row, true);
    }
  }

  /** Idempotent by triple id: a row already held is ignored, except that `ok` replaces `failed`. */
  private merge(b: BuildState, row: ResultRow, fresh: boolean): void {
    const held = b.rows.get(row.tripleId);
    if (held && !(held.status === 'failed' && row.status === 'ok')) return;
    b.rows.set(row.tripleId, row);
    if (fresh) b.pendingRows.push(row);
  }

  /** Write the new rows as a segment, then acknowledge and delete their entries (Redis stays small). */
  private async flush(b: BuildState): Promise<void> {
    const { redis, log } = this.opts;
    try {
      if (b.pendingRows.length > 0) await writeSegment(this.opts.store, b.buildId, b.nextSeq, b.pendingRows);
    } catch (err) {
      this.backoff(b, err, 'segment write failed');
      return;
    }
    if (b.pendingRows.length > 0) b.nextSeq++;
    const entries = b.pendingEntries;
    const tx = redis.multi();
    for (let i = 0; i < entries.length; i += 1000) {
      const chunk = entries.slice(i, i + 1000);
      tx.xack(b.stream, AGGREGATOR_GROUP, ...chunk);
      tx.xdel(b.stream, ...chunk);
    }
    tx.hset(this.keys.build(b.buildId), 'aggregated', String(b.rows.size));
    for (const [reason, n] of b.rejected) {
      tx.hincrby(this.keys.build(b.buildId), 'rejectedEntries', n);
      tx.hincrby(this.keys.failures(b.buildId), reason.slice(0, REASON_KEY_MAX), n);
    }
    await tx.exec();
    b.rejected.clear();
    log.debug({ buildId: b.buildId, rows: b.pendingRows.length, entries: entries.length, total: b.rows.size }, 'aggregator: segment flushed');
    b.pendingRows = [];
    b.pendingEntries = [];
    b.lastFlush = Date.now();
    b.backoffMs = 1000;
  }

  private backoff(b: BuildState, err: unknown, what: string): void {
    this.opts.log.warn({ buildId: b.buildId, err: String(err), retryInMs: b.backoffMs }, `aggregator: ${what}, retrying with back-off`);
    b.retryAt = Date.now() + b.backoffMs;
    b.backoffMs = Math.min(b.backoffMs * 2, 60_000);
  }

  private async maybePublish(b: BuildState): Promise<void> {
    const { record } = b;
    if (record.state !== 'enqueued' || record.expected === undefined || b.rows.size < record.expected) return;
    if (b.pendingEntries.length > 0) await this.flush(b);
    if (b.pendingEntries.length > 0) return;
    const { redis, store, log } = this.opts;
    const lock = await waitForLock(redis, this.keys.publishLock(record.dataset), { ttlMs: LOCK_TTL_MS });
    if (!lock) return;
    let result: PublishResult;
    try {
      // A cancel may have come since the record was read.
      if ((await redis.hget(this.keys.build(b.buildId), 'state')) !== 'enqueued') return;
      const rows = [...b.rows.values()];
      const dataSources = new Map<string, { source: string; sha256: string }>();
      for (const r of rows) if (r.status === 'ok') dataSources.set(`${r.dataSource}\u0000${r.dataSha256}`, { source: r.dataSource, sha256: r.dataSha256 });
      result = await publishVersion(store, {
        dataset: record.dataset,
        buildId: b.buildId,
        parentVersion: record.baseVersion,
        rows,
        expected: (record.expectedBy ?? []).map((e) => ({ ...e, proxy: e.proxy as ProxyName })),
        provenance: { fingerprint: record.fingerprint, reuse: record.reuse, spec: JSON.parse(record.spec) as unknown, dataSources: [...dataSources.values()] },
      });
    } catch (err) {
      // S3 down beyond the store's own retries, or anything else: the rows are safe in segments; try again later.
      this.backoff(b, err, err instanceof ServiceError ? 'publish failed, S3 unavailable' : 'publish failed');
      return;
    } finally {
      await lock.release().catch(() => undefined);
    }
    const buildKey = this.keys.build(b.buildId);
    await redis
      .multi()
      .hset(buildKey, { state: 'published', version: result.version, publishedAt: String(Date.now()) })
      .del(b.stream)
      .expire(buildKey, KEEP_BUILD_KEYS_S)
      .expire(this.keys.enqueued(b.buildId), KEEP_BUILD_KEYS_S)
      .expire(this.keys.failures(b.buildId), KEEP_BUILD_KEYS_S)
      .exec();
    await b.lock.release();
    this.builds.delete(b.buildId);
    this.finished.add(b.buildId);
    const published = { buildId: b.buildId, dataset: record.dataset, result };
    this.published.push(published);
    this.opts.metrics?.setLastPublished(record.dataset, result.version);
    log.info({ buildId: b.buildId, dataset: record.dataset, version: result.version, rows: result.manifest.rowCount, uploaded: result.uploaded, reused: result.reused }, 'aggregator: version published');
    this.opts.onPublished?.(published);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
