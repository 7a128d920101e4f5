import type { Redis } from 'ioredis';
import type { BuiltInProxyName, ColumnName, SpaceName, TaskName } from '../core/names';
import type { Logger } from '../log';
import { CancelledError, InputError } from '../errors';
import type { DataSpec } from '../core/types';
import { createBuild, isCancelled, markEnqueued, type ExpectedCount } from '../queue/build';
import { dataIdentity } from '../core/data';
import { jobIdOf, tripleDataId, tripleId } from '../queue/ids';
import { redisKeys } from '../queue/names';
import { addJobs, type ComputeQueue } from '../queue/queues';
import { isShapeOnly, MAX_ARCHS_PER_MESSAGE, type JobPayload } from '../queue/schema';
import { batchSizeOf, proxiesOf, type BuildPlan, type PlannedModule } from './spec';

export interface ProduceProgress {
  messagesSeen: number;
  totalMessages: number;
  triplesSeen: number;
  totalTriples: number;
  /** Messages added to the queue by this run. */
  enqueued: number;
}

export interface ProduceResult {
  buildId: string;
  /** Triples the build computes (base-version triples excluded). */
  expected: number;
  /** Triples the base version already holds: not enqueued. */
  skippedBase: number;
  /** Messages this run added to the queue. */
  enqueuedMessages: number;
  enqueuedTriples: number;
  /** Messages an earlier run had already enqueued (possibly finished and removed since). */
  alreadyEnqueued: number;
  /** Triples of the build the store already holds rows for (its segments): counted, not enqueued. */
  alreadyStored: number;
}

export interface ProduceOptions {
  redis: Redis;
  /** The light queue: workers move jobs to the heavy one when they need more memory. */
  queue: ComputeQueue;
  plan: BuildPlan;
  /** What the base version holds (src/producer/base.ts). */
  base?: BaseVersion;
  /** Triple ids of this build already stored (its segments in S3): expected, but not enqueued again. */
  storedTripleIds?: ReadonlySet<string>;
  /** Messages per addBulk. */
  chunkSize?: number;
  onProgress?: (p: ProduceProgress) => void;
  log: Logger;
}

/** The `ok` rows of a build's base version: their triple ids, and the fingerprints that made them. */
export interface BaseVersion {
  tripleIds: ReadonlySet<string>;
  fingerprints: readonly string[];
  /** User module columns of those rows: name → the sha256s of the modules that made them. */
  modules?: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * A module column of the base version made by another module (another sha256) is an error: one
 * column of a dataset is one computation, and a version mixing two codes under a name could not say
 * which value is which. Rename the module, or build without the base. Same name and sha256: held.
 */
export function checkModulesAgainstBase(plan: BuildPlan, base: BaseVersion | undefined): void {
  for (const [i, m] of (plan.modules ?? []).entries()) {
    const held = base?.modules?.get(m.name);
    const others = [...(held ?? [])].filter((sha) => sha !== m.sha256);
    if (others.length > 0) {
      throw new InputError(
        `spec proxyModules[${i}]`,
        m.file,
        `a module whose name is not a column of ${plan.spec.baseVersion} made by another module: "${m.name}" there is sha256 ${others[0]!.slice(0, 12)}…, this one ${m.sha256.slice(0, 12)}… (rename it, or build without baseVersion)`,
      );
    }
  }
}

/** Task → identity of its data (src/core/data `dataIdentity`), for the triple ids and payloads. */
export type DataIds = ReadonlyMap<TaskName, string>;

/** Hashes the build's data sources once per task (a bad data path fails here, before anything is enqueued). */
export async function dataIdsOf(plan: BuildPlan): Promise<DataIds> {
  const ids = new Map<TaskName, string>();
  if (plan.data.source === 'dataset') return dataSetIds(plan);
  for (const { tasks } of plan.spaces) {
    for (const task of tasks) if (!ids.has(task)) ids.set(task, await dataIdentity(plan.data, task));
  }
  return ids;
}

/**
 * A data set's identity: its source and batch size (a seed's minibatch follows from them and the
 * seed, which the triple key holds). Every task of the build must be the set's, and every seed drawn.
 */
function dataSetIds(plan: BuildPlan): DataIds {
  const m = plan.dataSet;
  const name = (plan.data as { dataset: string }).dataset;
  if (!m) throw new InputError('data.dataset', name, 'a data set read from the store (prepareBuild)');
  const ids = new Map<TaskName, string>();
  for (const { tasks } of plan.spaces) {
    for (const task of tasks) if (task !== m.task) throw new InputError('tasks', task, `data set ${name} is for task ${m.task} only`);
  }
  for (const seed of plan.spec.seeds)
    if (!m.seeds[String(seed)])
      throw new InputError('seeds', seed, `a seed data set ${name} holds (${Object.keys(m.seeds).join(', ')}): zcbench data add ${name} --seeds …`);
  ids.set(m.task, `dataset:${m.source.sha256}:b${m.batchSize}`);
  return ids;
}

/** A job's data: a data set's → that seed's minibatch objects. */
function jobData(plan: BuildPlan, seed: number, batchSize: number): DataSpec {
  const m = plan.dataSet;
  if (plan.data.source !== 'dataset' || !m) return plan.data;
  const s = m.seeds[String(seed)];
  if (!s) throw new InputError('seeds', seed, `a seed data set ${m.name} holds`);
  if (batchSize > m.batchSize)
    throw new InputError('batchSize', batchSize, `at most ${m.batchSize}: data set ${m.name}'s minibatches hold ${m.batchSize} samples`);
  return { source: 'minibatch', dataset: m.name, minibatch: s.minibatch, second: s.second };
}

interface Message {
  jobId: string;
  payload: JobPayload;
}

type ModuleRef = Pick<PlannedModule, 'name' | 'sha256'>;

/** Shape-only architectures waiting to fill one message (same task, seed and proxies). */
interface ArchBatch {
  task: TaskName;
  seed: number;
  batchSize: number;
  proxies: BuiltInProxyName[];
  archs: string[];
  ids: string[];
}

/**
 * Expand the plan lazily, one (space, arch, task, seed) at a time, into its messages. Triples the
 * base version holds are left out (with `reuse: any-code`, also those it holds under another
 * fingerprint): `proxies` are those kept, `skipped` counts those left out.
 * Shape-only proxies (params, flops) of up to MAX_ARCHS_PER_MESSAGE architectures share a message
 * (they cost less than a message each); a message of other proxies holds one architecture.
 */
export function* expandMessages(
  plan: BuildPlan,
  dataIds: DataIds,
  base?: BaseVersion,
  storedTripleIds?: ReadonlySet<string>,
): Generator<{ space: SpaceName; task: TaskName; proxies: ColumnName[]; messages: Message[]; skipped: number; stored: number }> {
  const { spec } = plan;
  if (spec.proxyModules && !plan.modules) throw new InputError('spec proxyModules', spec.proxyModules, 'modules loaded and stored first (withProxyModules)');
  const modules: ModuleRef[] = (plan.modules ?? []).map(({ name, sha256 }) => ({ name, sha256 }));
  const otherFingerprints = spec.reuse === 'any-code' ? (base?.fingerprints ?? []).filter((f) => f !== plan.fingerprint) : [];
  for (const { space, tasks, archs } of plan.spaces) {
    const message = (
      task: TaskName,
      seed: number,
      batchSize: number,
      proxies: BuiltInProxyName[],
      where: { arch: string } | { archs: string[] },
      ids: string[],
      withModules: ModuleRef[] = [],
    ): Message => ({
      // The triple ids stay out of the payload (workers derive them): waiting jobs stay small.
      jobId: jobIdOf(plan.buildId, ids),
      payload: {
        buildId: plan.buildId,
        dataset: spec.dataset,
        space,
        task,
        ...where,
        proxies,
        ...(withModules.length > 0 ? { modules: withModules } : {}),
        seed,
        batchSize,
        data: jobData(plan, seed, batchSize),
        fingerprint: plan.fingerprint,
        dataId: dataIds.get(task)!,
      },
    });
    const batches = new Map<string, ArchBatch>();
    const close = (key: string, b: ArchBatch): Message => {
      batches.delete(key);
      return message(b.task, b.seed, b.batchSize, b.proxies, { archs: b.archs }, b.ids);
    };
    for (const arch of archs.iterate()) {
      for (const task of tasks) {
        const proxies = proxiesOf(spec, task);
        const batchSize = batchSizeOf(spec, task);
        for (const seed of spec.seeds) {
          const todo = new Map<BuiltInProxyName, string>();
          const todoModules = new Map<ModuleRef, string>();
          const expected: ColumnName[] = [];
          // Whether the base or the store holds a column's triple; else the triple is to compute (its id).
          const wanted = (proxy: ColumnName, module?: string): string | null => {
            const key = {
              dataset: spec.dataset,
              space,
              task,
              arch,
              proxy,
              seed,
              batchSize,
              fingerprint: plan.fingerprint,
              data: tripleDataId(proxy, dataIds.get(task)!),
              ...(module !== undefined ? { module } : {}),
            };
            const id = tripleId(key);
            const held = base?.tripleIds.has(id) || otherFingerprints.some((fingerprint) => base!.tripleIds.has(tripleId({ ...key, fingerprint })));
            if (held) return null;
            expected.push(proxy);
            return storedTripleIds?.has(id) ? null : id;
          };
          for (const proxy of proxies) {
            const id = wanted(proxy);
            if (id !== null) todo.set(proxy, id);
          }
          for (const m of modules) {
            const id = wanted(m.name, m.sha256);
            if (id !== null) todoModules.set(m, id);
          }
          const kept = [...todo.keys()];
          const keptModules = [...todoModules.keys()];
          const messages: Message[] = [];
          if (spec.packing === 'triple') {
            for (const p of kept) messages.push(message(task, seed, batchSize, [p], { arch }, [todo.get(p)!]));
            for (const m of keptModules) messages.push(message(task, seed, batchSize, [], { arch }, [todoModules.get(m)!], [m]));
          } else if (keptModules.length > 0) {
            // A module's code may read anything: its message is a tensor job of one architecture.
            messages.push(message(task, seed, batchSize, kept, { arch }, [...todo.values(), ...todoModules.values()], keptModules));
          } else if (kept.length > 0 && isShapeOnly(kept)) {
            const key = `${task}\u0000${seed}\u0000${kept.join(',')}`;
            let b = batches.get(key);
            if (!b) batches.set(key, (b = { task, seed, batchSize, proxies: kept, archs: [], ids: [] }));
            b.archs.push(arch);
            b.ids.push(...todo.values());
            if (b.archs.length === MAX_ARCHS_PER_MESSAGE) messages.push(close(key, b));
          } else if (kept.length > 0) {
            messages.push(message(task, seed, batchSize, kept, { arch }, [...todo.values()]));
          }
          yield {
            space,
            task,
            proxies: expected,
            messages,
            skipped: proxies.length + modules.length - expected.length,
            stored: expected.length - kept.length - keptModules.length,
          };
        }
      }
    }
    for (const [key, b] of [...batches]) yield { space, task: b.task, proxies: [], messages: [close(key, b)], skipped: 0, stored: 0 };
  }
}

/**
 * Enqueue a build: record it, stream its messages into the light queue in chunks, then record the
 * expected triple count. Rerunning on the same plan adds nothing: job ids are deterministic, and
 * the build's `enqueued` set remembers messages whose jobs BullMQ has already removed.
 */
export async function produce(opts: ProduceOptions): Promise<ProduceResult> {
  const { redis, queue, plan, log } = opts;
  const chunkSize = opts.chunkSize ?? 1000;
  // The build's keys live under its queues' prefix (ZC_QUEUE_PREFIX).
  const prefix = queue.opts.prefix ?? 'bull';
  const dataIds = await dataIdsOf(plan);
  checkModulesAgainstBase(plan, opts.base);
  await createBuild(redis, prefix, {
    buildId: plan.buildId,
    dataset: plan.spec.dataset,
    spec: JSON.stringify(plan.spec),
    baseVersion: plan.spec.baseVersion,
    fingerprint: plan.fingerprint,
    reuse: plan.spec.reuse,
    modules: plan.modules,
  });
  if (await isCancelled(redis, prefix, plan.buildId))
    throw new CancelledError(`build ${plan.buildId} was cancelled (zcbench cancel): give a new build another --build-id`);
  const enqueuedKey = redisKeys(prefix).enqueued(plan.buildId);
  const result: ProduceResult = {
    buildId: plan.buildId,
    expected: 0,
    skippedBase: 0,
    enqueuedMessages: 0,
    enqueuedTriples: 0,
    alreadyEnqueued: 0,
    alreadyStored: 0,
  };
  const progress: ProduceProgress = { messagesSeen: 0, totalMessages: plan.totalMessages, triplesSeen: 0, totalTriples: plan.totalTriples, enqueued: 0 };
  let chunk: Message[] = [];

  const flush = async () => {
    if (chunk.length === 0) return;
    const known = await redis.smismember(enqueuedKey, ...chunk.map((m) => m.jobId));
    const fresh = chunk.filter((_, i) => known[i] === 0);
    result.alreadyEnqueued += chunk.length - fresh.length;
    // Queue first, then remember: a crash in between only makes a rerun re-add ids BullMQ still holds.
    await addJobs(queue, fresh);
    if (fresh.length > 0) await redis.sadd(enqueuedKey, ...fresh.map((m) => m.jobId));
    result.enqueuedMessages += fresh.length;
    result.enqueuedTriples += fresh.reduce((n, m) => n + m.payload.proxies.length + (m.payload.modules?.length ?? 0), 0);
    progress.enqueued = result.enqueuedMessages;
    chunk = [];
    opts.onProgress?.({ ...progress });
  };

  const expectedBy = new Map<string, ExpectedCount>();
  for (const { space, task, proxies, messages, skipped, stored } of expandMessages(plan, dataIds, opts.base, opts.storedTripleIds)) {
    for (const proxy of proxies) {
      const k = `${space}/${task}/${proxy}`;
      const e = expectedBy.get(k);
      if (e) e.count++;
      else expectedBy.set(k, { space, task, proxy, count: 1 });
    }
    result.expected += proxies.length;
    result.skippedBase += skipped;
    result.alreadyStored += stored;
    progress.triplesSeen += proxies.length + skipped;
    progress.messagesSeen += messages.length;
    chunk.push(...messages);
    if (chunk.length >= chunkSize) await flush();
  }
  await flush();
  await markEnqueued(redis, prefix, plan.buildId, [...expectedBy.values()]);
  log.info({ ...result }, 'producer: build enqueued');
  return result;
}
