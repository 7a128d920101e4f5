import type { Redis } from 'ioredis';
import { hostname } from 'os';
import { CancelledError, LockLostError, NotFoundError, ServiceError } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { readBuild, type BuildRecord } from '../queue/build';
import { tryLock, waitForLock, type Lock } from '../queue/lock';
import { runScript } from '../queue/lua';
import { AGGREGATOR_GROUP, redisKeys, type RedisKeys } from '../queue/names';
import { REASON_KEY_MAX } from '../queue/results';
import { storeIdentity } from '../storage/identity';
import type { ObjectStore } from '../storage/objects';
import { publishVersion, type PublishResult } from '../storage/publish';
import type { ResultRow } from '../storage/rows';
import { buildStoreOf, reopenIfUnpublished } from './build-store';
import { rowOfEntry } from './intake';
import { readSegments, segmentKey, writeSegment, type StoredSegments } from './segments';

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
  /** Rewrite a build's segments as one once it has this many (default 64): the store's listing stays short. */
  compactAt?: number;
  flushIntervalMs?: number;
  /** Consumer name in the results streams' group. Default: host-pid. */
  consumer?: string;
  /** TTL of the build and publish locks, ms (renewed every third of it). Default 15 s. */
  lockTtlMs?: number;
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
  pendingEntries: Set<string>;
  /** Entries not taken as they were since the last flush, by reason (see ./intake.ts). */
  rejected: Map<string, number>;
  /** This owner's next segment number (its keys carry the lock's fencing token). */
  nextSeq: number;
  /** The build's segment keys in the store (loaded and written), for compaction. */
  segmentKeys: string[];
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
  private stopping = false;
  private blocking: Redis | null = null;
  private storeId: string | undefined;
  private readonly lockTtlMs: number;
  private readonly keys: RedisKeys;

  constructor(private readonly opts: AggregatorOptions) {
    this.consumer = opts.consumer ?? `${hostname()}-${process.pid}`;
    this.lockTtlMs = opts.lockTtlMs ?? LOCK_TTL_MS;
    this.keys = redisKeys(opts.prefix);
  }

  /** Ask the loop to finish: pending rows are flushed and locks released before `run` returns. */
  stop(): void {
    this.stopping = true;
  }

  async run(): Promise<PublishedBuild[]> {
    const { redis } = this.opts;
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
          if (!this.builds.has(b.buildId)) continue;
          if (!b.lock.held) {
            await this.drop(b, 'lost the build lock (or could not renew it)');
            continue;
          }
          if (Date.now() < b.retryAt) continue;
          const due =
            b.pendingEntries.size > 0 &&
            (b.pendingRows.length >= (this.opts.flushRows ?? 5000) || Date.now() - b.lastFlush >= (this.opts.flushIntervalMs ?? 1000));
          if (due) await this.flush(b);
        }
        for (const b of active) if (this.builds.has(b.buildId) && Date.now() >= b.retryAt) await this.maybePublish(b);
      }
    } finally {
      for (const b of this.builds.values()) {
        if (b.pendingEntries.size > 0 && b.lock.held) await this.flush(b);
        await b.lock.release().catch(() => undefined);
      }
      this.builds.clear();
      this.blocking.disconnect();
    }
    return this.published;
  }

  /**
   * Take unowned, unpublished builds of this store (a build Redis calls published but the store
   * lacks is opened again); refresh the records of the ones held and claim what other consumers
   * left pending in their streams.
   */
  private async discover(): Promise<void> {
    const { redis, store, log } = this.opts;
    if (this.storeId === undefined) {
      try {
        this.storeId = await storeIdentity(store);
      } catch (err) {
        log.warn({ err: String(err) }, 'aggregator: cannot reach the store yet, will retry');
        return;
      }
    }
    const ids = this.opts.buildIds ?? (await redis.smembers(this.keys.builds));
    for (const buildId of ids) {
      const held = this.builds.get(buildId);
      if (held) {
        await this.refresh(held);
        continue;
      }
      if (this.finished.has(buildId) || !(await this.isOpen(buildId))) continue;
      let lock = await tryLock(redis, this.keys.aggregateLock(buildId), { ttlMs: this.lockTtlMs });
      if (!lock) continue;
      try {
        const segments = await readSegments(store, buildId);
        lock = await this.aboveStoredTokens(buildId, lock, segments.maxToken);
        if (lock) this.builds.set(buildId, await this.load(buildId, lock, segments));
      } catch (err) {
        await lock?.release().catch(() => undefined);
        log.warn({ buildId, err: String(err) }, 'aggregator: cannot load the build yet, will retry');
      }
    }
  }

  /**
   * Whether a build not held is this store's to aggregate. One Redis calls published is checked in
   * the store first: published there, it is finished; absent, it is opened again.
   */
  private async isOpen(buildId: string): Promise<boolean> {
    const { redis, store, log } = this.opts;
    const state = await redis.hget(this.keys.build(buildId), 'state');
    if (state === null) return false;
    if (state === 'cancelled') {
      this.finished.add(buildId);
      return false;
    }
    const boundTo = await buildStoreOf(redis, this.opts.prefix, buildId);
    if (boundTo !== undefined && boundTo !== this.storeId) return false;
    if (state !== 'published') return true;
    // A record naming no store (written before builds were bound) has nothing to be checked against.
    let reopened = false;
    try {
      reopened = boundTo !== undefined && (await reopenIfUnpublished(redis, this.opts.prefix, store, buildId, log));
    } catch (err) {
      log.warn({ buildId, err: String(err) }, 'aggregator: cannot check the store for the build yet, will retry');
      return false;
    }
    if (!reopened) this.finished.add(buildId);
    return reopened;
  }

  private async refresh(b: BuildState): Promise<void> {
    try {
      b.record = await readBuild(this.opts.redis, this.opts.prefix, b.buildId);
      if (b.record.state === 'cancelled') {
        await this.drop(b, 'build cancelled: not publishing it');
        this.finished.add(b.buildId);
        return;
      }
      await this.claimAbandoned(b);
    } catch (err) {
      // Redis flushed or restarted under the build: the lock says whether it is still ours.
      if (!(await b.lock.confirm())) await this.drop(b, `lost the build with Redis (${String(err)})`);
    }
  }

  /** Every build of `buildIds` found published in this store. */
  private async allPublished(): Promise<boolean> {
    const ids = this.opts.buildIds ?? [];
    const states = await Promise.all(ids.map((id) => this.opts.redis.hget(this.keys.build(id), 'state')));
    const cancelled = ids.filter((_, i) => states[i] === 'cancelled');
    if (cancelled.length > 0) throw new CancelledError(`build ${cancelled.join(', ')} was cancelled (zcbench cancel): it will not be published`);
    return ids.length > 0 && ids.every((id) => this.finished.has(id));
  }

  /** Named builds must exist: waiting for one that does not would never end. */
  private async checkBuildsExist(): Promise<void> {
    const ids = this.opts.buildIds ?? [];
    const exists = await Promise.all(ids.map((id) => this.opts.redis.exists(this.keys.build(id))));
    const missing = ids.filter((_, i) => exists[i] === 0);
    if (missing.length === 0) return;
    const known = (await this.opts.redis.smembers(this.keys.builds)).sort();
    const shown = known.length > 5 ? `${known.slice(-5).join(', ')}, …` : known.join(', ') || 'none';
    throw new NotFoundError(
      `build ${missing.map((id) => JSON.stringify(id)).join(', ')} not found in Redis (builds: ${shown}); \`zcbench produce\` creates it`,
    );
  }

  /** Stop acting on a build: nothing more is written under its lock; what we hold pending is claimed by the next owner. */
  private async drop(b: BuildState, why: string): Promise<void> {
    this.opts.log.warn(
      { buildId: b.buildId, fencingToken: b.lock.token, unwrittenRows: b.pendingRows.length },
      `aggregator: ${why}; stopped, leaving the build to its next owner`,
    );
    this.builds.delete(b.buildId);
    await b.lock.release().catch(() => undefined);
  }

  /**
   * Entries other consumers of the group read but never acknowledged (an owner that lost the
   * build, paused or dead): only the lock holder reads the stream, so they are ours to take.
   */
  private async claimAbandoned(b: BuildState): Promise<void> {
    const { redis, log } = this.opts;
    const pending = (await redis.xpending(b.stream, AGGREGATOR_GROUP, '-', '+', READ_COUNT)) as [string, string, number, number][];
    const theirs = pending.filter(([id, consumer]) => consumer !== this.consumer && !b.pendingEntries.has(id)).map(([id]) => id);
    if (theirs.length === 0) return;
    const entries = (await redis.xclaim(b.stream, AGGREGATOR_GROUP, this.consumer, 0, ...theirs)) as [string, string[]][];
    this.ingest(b, entries);
    log.info({ buildId: b.buildId, claimed: entries.length }, 'aggregator: claimed entries another consumer left pending');
  }

  /**
   * The lock, with a token above every segment writer's: a token counter lost with Redis's data
   * would hand out a used one (and its segment keys). Null when the retaken lock went to someone else.
   */
  private async aboveStoredTokens(buildId: string, acquired: Lock, maxToken: number): Promise<Lock | null> {
    if (maxToken < acquired.token) return acquired;
    await acquired.release();
    return tryLock(this.opts.redis, this.keys.aggregateLock(buildId), { ttlMs: this.lockTtlMs, tokenFloor: maxToken });
  }

  /** Rebuild a build's state: its segments from S3, then every entry still pending in its stream. */
  private async load(buildId: string, lock: Lock, segments: StoredSegments): Promise<BuildState> {
    const { redis, log } = this.opts;
    const stream = this.keys.results(buildId);
    await ensureGroup(redis, stream);
    const state: BuildState = {
      buildId,
      record: await readBuild(redis, this.opts.prefix, buildId),
      lock,
      stream,
      rows: new Map(),
      pendingRows: [],
      pendingEntries: new Set(),
      rejected: new Map(),
      nextSeq: 0,
      segmentKeys: [...segments.keys],
      lastFlush: Date.now(),
      retryAt: 0,
      backoffMs: 1000,
    };
    for (const row of segments.rows) this.merge(state, row, false);
    // Entries a crashed aggregator read but never flushed: claim them all (we hold the build lock).
    let cursor = '0-0';
    let claimed = 0;
    do {
      const [next, entries] = (await redis.xautoclaim(stream, AGGREGATOR_GROUP, this.consumer, 0, cursor, 'COUNT', READ_COUNT)) as [
        string,
        [string, string[]][],
      ];
      this.ingest(state, entries);
      claimed += entries.length;
      cursor = next;
    } while (cursor !== '0-0');
    log.info(
      { buildId, fencingToken: lock.token, segmentRows: segments.rows.length, segments: segments.keys.length, reclaimed: claimed },
      'aggregator: took the build',
    );
    return state;
  }

  private async read(active: BuildState[]): Promise<void> {
    const keys = active.map((b) => b.stream);
    let reply: [string, [string, string[]][]][] | null;
    try {
      reply = (await this.blocking!.xreadgroup(
        'GROUP',
        AGGREGATOR_GROUP,
        this.consumer,
        'COUNT',
        READ_COUNT,
        'BLOCK',
        BLOCK_MS,
        'STREAMS',
        ...keys,
        ...keys.map(() => '>'),
      )) as [string, [string, string[]][]][] | null;
    } catch (err) {
      // A stream or its group vanished (Redis flushed or restarted without its data): keep only the builds still ours.
      if (!/NOGROUP|UNBLOCKED/.test(String(err))) throw err;
      for (const b of active) {
        if (await b.lock.confirm()) await ensureGroup(this.opts.redis, b.stream);
        else await this.drop(b, 'lost the build with Redis');
      }
      return;
    }
    for (const [key, entries] of reply ?? []) {
      const b = active.find((s) => s.stream === key);
      if (b) this.ingest(b, entries);
    }
  }

  private ingest(b: BuildState, entries: [string, string[] | null][]): void {
    for (const [id, fields] of entries) {
      b.pendingEntries.add(id);
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

  /**
   * Write the new rows as a segment, then acknowledge and delete their entries (Redis stays small).
   * Fenced: the lock is confirmed in Redis before the write, and the acknowledgement is a script
   * that refuses a holder whose lock has moved on (that owner stops; its entries stay pending).
   */
  private async flush(b: BuildState): Promise<void> {
    const { redis, log } = this.opts;
    if (!(await b.lock.confirm())) return this.drop(b, 'lost the build lock before writing a segment; wrote nothing');
    const key = segmentKey(b.buildId, b.lock.token, b.nextSeq);
    let committed: unknown;
    try {
      if (b.pendingRows.length > 0) await writeSegment(this.opts.store, key, b.pendingRows);
      committed = await runScript(
        redis,
        'commitSegment',
        [b.lock.key, b.stream, this.keys.build(b.buildId)],
        [b.lock.holder, AGGREGATOR_GROUP, b.rows.size, ...b.pendingEntries],
      );
    } catch (err) {
      // Rewritten under the same key next time, with these rows and any that arrived since.
      this.backoff(b, err, 'segment write failed');
      return;
    }
    // Its rows are valid results, so the segment stays; readers merge them by triple id.
    if (committed !== 1) return this.drop(b, `lost the build lock while writing segment ${key}`);
    if (b.pendingRows.length > 0) {
      b.nextSeq++;
      b.segmentKeys.push(key);
    }
    if (b.rejected.size > 0) {
      const tx = redis.multi();
      for (const [reason, n] of b.rejected) {
        tx.hincrby(this.keys.build(b.buildId), 'rejectedEntries', n);
        tx.hincrby(this.keys.failures(b.buildId), reason.slice(0, REASON_KEY_MAX), n);
      }
      await tx.exec();
      b.rejected.clear();
    }
    log.debug(
      { buildId: b.buildId, segment: key, rows: b.pendingRows.length, entries: b.pendingEntries.size, total: b.rows.size },
      'aggregator: segment flushed',
    );
    b.pendingRows = [];
    b.pendingEntries = new Set();
    b.lastFlush = Date.now();
    b.backoffMs = 1000;
    if (b.segmentKeys.length >= (this.opts.compactAt ?? 64)) await this.compact(b);
  }

  /**
   * Every row held, as one segment under this owner's token; then the segments it replaces are
   * deleted. Fenced like a flush. A crash or a lost lock between the two leaves both, which readers
   * merge by triple id; a key another owner wrote since is not in our list and is never deleted.
   */
  private async compact(b: BuildState): Promise<void> {
    const { store, log } = this.opts;
    if (!(await b.lock.confirm())) return this.drop(b, 'lost the build lock before compacting its segments');
    const key = segmentKey(b.buildId, b.lock.token, b.nextSeq);
    const replaced = b.segmentKeys;
    try {
      await writeSegment(store, key, [...b.rows.values()]);
      b.nextSeq++;
      b.segmentKeys = [key];
      if (!(await b.lock.confirm())) return this.drop(b, `lost the build lock after compacting into ${key}`);
      for (const old of replaced) await store.deleteKey(old);
    } catch (err) {
      // What is written stays valid; the next flush tries again.
      log.warn({ buildId: b.buildId, err: String(err) }, 'aggregator: segment compaction failed, will retry');
      b.segmentKeys = [...new Set([...b.segmentKeys, ...replaced])];
      return;
    }
    log.info({ buildId: b.buildId, segment: key, rows: b.rows.size, replaced: replaced.length }, 'aggregator: segments compacted');
  }

  private backoff(b: BuildState, err: unknown, what: string): void {
    this.opts.log.warn({ buildId: b.buildId, err: String(err), retryInMs: b.backoffMs }, `aggregator: ${what}, retrying with back-off`);
    b.retryAt = Date.now() + b.backoffMs;
    b.backoffMs = Math.min(b.backoffMs * 2, 60_000);
  }

  private async maybePublish(b: BuildState): Promise<void> {
    const { record } = b;
    if (record.state !== 'enqueued' || record.expected === undefined || b.rows.size < record.expected) return;
    if (b.pendingEntries.size > 0) await this.flush(b);
    if (!this.builds.has(b.buildId) || b.pendingEntries.size > 0) return;
    const { redis, store, log } = this.opts;
    const lock = await waitForLock(redis, this.keys.publishLock(record.dataset), { ttlMs: this.lockTtlMs });
    if (!lock) return;
    // Checked before each write of the publish: the version's reservation, its manifest, `latest`.
    const fence = async () => {
      if (!(await b.lock.confirm())) throw new LockLostError(`lost the build lock of ${b.buildId} while publishing`);
      if (!(await lock.confirm())) throw new LockLostError(`lost the publish lock of ${record.dataset} while publishing`);
    };
    let result: PublishResult;
    try {
      await fence();
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
        expected: record.expectedBy ?? [],
        provenance: {
          fingerprint: record.fingerprint,
          reuse: record.reuse,
          spec: JSON.parse(record.spec) as unknown,
          dataSources: [...dataSources.values()],
          ...(record.modules ? { modules: record.modules } : {}),
        },
        fence,
      });
    } catch (err) {
      if (err instanceof LockLostError && !b.lock.held) return this.drop(b, err.message);
      // S3 down beyond the store's own retries, or anything else: the rows are safe in segments; try again later.
      this.backoff(b, err, err instanceof ServiceError ? 'publish failed, S3 unavailable' : 'publish failed');
      return;
    } finally {
      await lock.release().catch(() => undefined);
    }
    const marked = await runScript(
      redis,
      'markPublished',
      [b.lock.key, this.keys.build(b.buildId), b.stream, this.keys.enqueued(b.buildId), this.keys.failures(b.buildId)],
      [b.lock.holder, result.version, Date.now(), KEEP_BUILD_KEYS_S],
    );
    // The version is in the store either way; the next owner's publish reproduces it and records it.
    if (marked !== 1) return this.drop(b, `lost the build lock after publishing ${record.dataset}@${result.version}`);
    await b.lock.release();
    this.builds.delete(b.buildId);
    this.finished.add(b.buildId);
    const published = { buildId: b.buildId, dataset: record.dataset, result };
    this.published.push(published);
    this.opts.metrics?.setLastPublished(record.dataset, result.version);
    log.info(
      {
        buildId: b.buildId,
        dataset: record.dataset,
        version: result.version,
        rows: result.manifest.rowCount,
        uploaded: result.uploaded,
        reused: result.reused,
      },
      'aggregator: version published',
    );
    this.opts.onPublished?.(published);
  }
}

/** The aggregator group on a build's results stream (created with the stream when missing). */
async function ensureGroup(redis: Redis, stream: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, AGGREGATOR_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!String(err).includes('BUSYGROUP')) throw err;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
