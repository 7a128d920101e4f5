import { join } from 'path';
import type { Redis } from 'ioredis';
import { PROXIES, TASKS } from '../src/core/names';
import { InputError } from '../src/errors';
import { logger } from '../src/log';
import { expandMessages, produce } from '../src/producer/producer';
import { planBuild, type BuildPlan } from '../src/producer/spec';
import { readBuild } from '../src/queue/build';
import { tripleId, tripleIdsOf } from '../src/queue/ids';
import { openQueue, type ComputeQueue } from '../src/queue/queues';
import { JobPayloadSchema } from '../src/queue/schema';
import { cleanupRedis, testRedis, uniquePrefix } from './helpers/pipeline';

const FIXTURES = join(__dirname, 'fixtures', 'pipeline');
const log = logger.child({ test: 'queue-producer' });
/** Data identities of a synthetic build's tasks (what `dataIdsOf` gives for synthetic data). */
const SYNTHETIC = new Map(TASKS.map((t) => [t, 'synthetic']));

function plan(spec: Record<string, unknown>): BuildPlan {
  return planBuild(
    { dataset: 'zct-producer', spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params'], archs: ['(0, 1, 2, 3, 4, 0)'], ...spec },
    FIXTURES,
  );
}

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('no error thrown');
}

describe('build spec', () => {
  test('names the field and the value of an invalid entry', () => {
    let e = inputError(() => plan({ proxies: ['params', 'snap'] }));
    expect(e.field).toBe('spec proxies[1]');
    expect(e.value).toBe('snap');
    e = inputError(() => plan({ tasks: ['cifar10', 'jigsaw'] }));
    expect(e.field).toBe('spec tasks[1]');
    expect(e.message).toContain('valid for nasbench201');
    e = inputError(() => plan({ archs: ['(0, 1, 2, 3, 4, 0)', '(0, 1, 2, 3, 4, 9)'] }));
    expect(e.field).toBe('spec archs[1]');
    expect(e.value).toBe('(0, 1, 2, 3, 4, 9)');
    e = inputError(() => plan({ archs: { sample: 20000 } }));
    expect(e.field).toBe('spec archs.sample');
    e = inputError(() => plan({ batchSize: { tasks: { cifar10: 0 } } }));
    expect(e.field).toBe('spec batchSize.tasks.cifar10');
    e = inputError(() => plan({ colour: 'blue' }));
    expect(e.message).toContain('colour');
  });

  test('expands NB201 `all` × 3 tasks × all proxies lazily', () => {
    const p = plan({ archs: 'all', tasks: ['cifar10', 'cifar100', 'ImageNet16-120'], proxies: 'all' });
    expect(p.totalTriples).toBe(15625 * 3 * 13);
    expect(p.totalMessages).toBe(15625 * 3);
    // A generator: the first messages come without the other 609,362 triples being built.
    const it = expandMessages(p, SYNTHETIC);
    const first = it.next().value!;
    expect(first.messages).toHaveLength(1);
    expect(first.messages[0]!.payload.proxies).toEqual([...PROXIES]);
    expect(JobPayloadSchema.safeParse(first.messages[0]!.payload).success).toBe(true);
  });

  test('the newer proxies: az_nas stands for its four parts, NASLib order kept, every payload valid', () => {
    const payloads = [...expandMessages(plan({ proxies: ['az_nas', 'zico', 'params', 'meco', 'swap'] }), SYNTHETIC)].flatMap((u) =>
      u.messages.map((m) => m.payload),
    );
    expect(payloads).toHaveLength(1);
    expect(payloads[0]!.proxies).toEqual([
      'params',
      'meco',
      'swap',
      'zico',
      'az_nas.expressivity',
      'az_nas.progressivity',
      'az_nas.trainability',
      'az_nas.complexity',
    ]);
    expect(JobPayloadSchema.safeParse(payloads[0]).success).toBe(true);
    expect(JobPayloadSchema.safeParse({ ...payloads[0], proxies: ['az_nas'] }).success).toBe(false);
  });

  test('a seeded sample is reproducible, and a NASLib archs file is read', () => {
    const a = [...plan({ archs: { sample: 7, seed: 3 } }).spaces[0]!.archs.iterate()];
    const b = [...plan({ archs: { sample: 7, seed: 3 } }).spaces[0]!.archs.iterate()];
    const c = [...plan({ archs: { sample: 7, seed: 4 } }).spaces[0]!.archs.iterate()];
    expect(a).toHaveLength(7);
    expect(new Set(a).size).toBe(7);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const fromFile = plan({ archs: { file: 'archs_nasbench2019x.json' } });
    expect(fromFile.spaces[0]!.archs.count).toBe(199);
    expect([...fromFile.spaces[0]!.archs.iterate()][0]).toBe('(3, 3, 3, 0, 1, 4)');
    const sampled = [...plan({ archs: { sample: 5, from: { file: 'archs_nasbench2019x.json' } } }).spaces[0]!.archs.iterate()];
    expect(sampled.every((s) => [...fromFile.spaces[0]!.archs.iterate()].includes(s))).toBe(true);
  });

  test('the batch size rule: 64, overridable for all tasks or per task; it is part of the triple id', () => {
    const msg = (spec: Record<string, unknown>) => [...expandMessages(plan(spec), SYNTHETIC)].flatMap((u) => u.messages)[0]!.payload;
    expect(msg({}).batchSize).toBe(64);
    expect(msg({ batchSize: { default: 16 } }).batchSize).toBe(16);
    expect(msg({ batchSize: { default: 16, tasks: { cifar10: 8 } } }).batchSize).toBe(8);
    const arch = '(0, 1, 2, 3, 4, 0)';
    expect(tripleIdsOf(msg({}), arch).params).not.toBe(tripleIdsOf(msg({ batchSize: { default: 16 } }), arch).params);
  });

  test('shape-only proxies share messages of up to 200 architectures; other proxies get one architecture per message', () => {
    const messages = (spec: Record<string, unknown>) => [...expandMessages(plan(spec), SYNTHETIC)].flatMap((u) => u.messages.map((m) => m.payload));
    const shapeOnly = messages({ archs: { sample: 250, seed: 1 }, tasks: ['cifar10', 'cifar100'], proxies: ['params', 'flops'] });
    expect(shapeOnly.map((m) => [m.task, m.archs?.length, m.arch])).toEqual([
      ['cifar10', 200, undefined],
      ['cifar100', 200, undefined],
      ['cifar10', 50, undefined],
      ['cifar100', 50, undefined],
    ]);
    expect(new Set(shapeOnly.flatMap((m) => m.archs!)).size).toBe(250);
    for (const m of shapeOnly) expect(JobPayloadSchema.safeParse(m).success).toBe(true);
    const oneByOne = messages({ archs: { sample: 3, seed: 1 }, proxies: ['params', 'flops'], packing: 'triple' });
    expect(oneByOne.map((m) => [m.arch !== undefined, m.proxies.length])).toEqual(Array(6).fill([true, 1]));
    const tensor = messages({ archs: { sample: 3, seed: 1 }, proxies: ['params', 'l2_norm'] });
    expect(tensor.map((m) => [m.arch !== undefined, m.proxies])).toEqual(Array(3).fill([true, ['l2_norm', 'params']]));
    // A multi-architecture message of a tensor proxy is not a valid message.
    const bad = JobPayloadSchema.safeParse({ ...tensor[0]!, arch: undefined, archs: ['(0, 1, 2, 3, 4, 0)'] });
    expect(bad.success).toBe(false);
  });
});

describe('producer', () => {
  let redis: Redis;
  let queue: ComputeQueue;
  const prefix = uniquePrefix('producer');

  beforeAll(async () => {
    redis = await testRedis();
    queue = openQueue('light', redis, prefix);
  });
  afterAll(async () => {
    await queue.close();
    await cleanupRedis(redis, prefix);
    redis.disconnect();
  });

  const spec = {
    dataset: `zct-producer-${process.pid}`,
    archs: { sample: 5, seed: 1 },
    tasks: ['cifar10', 'cifar100'],
    proxies: ['params', 'flops', 'l2_norm'],
  };

  test('enqueues each triple once, even when run again after its jobs were removed', async () => {
    const p = plan(spec);
    const first = await produce({ redis, queue, plan: p, log, chunkSize: 3 });
    expect(first).toMatchObject({ expected: 30, enqueuedMessages: 10, enqueuedTriples: 30, alreadyEnqueued: 0 });
    expect(await queue.count()).toBe(10);
    const second = await produce({ redis, queue, plan: plan(spec), log });
    expect(second).toMatchObject({ buildId: p.buildId, expected: 30, enqueuedMessages: 0, alreadyEnqueued: 10 });
    expect(await queue.count()).toBe(10);
    // Finished jobs leave BullMQ (removeOnComplete): a rerun must still not enqueue them again.
    await queue.drain();
    expect(await queue.count()).toBe(0);
    const third = await produce({ redis, queue, plan: plan(spec), log });
    expect(third.enqueuedMessages).toBe(0);
    expect(await queue.count()).toBe(0);
    const record = await readBuild(redis, prefix, p.buildId);
    expect(record).toMatchObject({ state: 'enqueued', expected: 30, dataset: spec.dataset });
  });

  test('--one-proxy-per-job packing gives one triple per message; base triples are skipped', async () => {
    const p = plan({ ...spec, packing: 'triple' });
    // The base version holds every params triple of cifar10.
    const base = new Set<string>();
    for (const arch of p.spaces[0]!.archs.iterate()) {
      base.add(
        tripleId({
          dataset: spec.dataset,
          space: 'nasbench201',
          task: 'cifar10',
          arch,
          proxy: 'params',
          seed: 0,
          batchSize: 64,
          fingerprint: p.fingerprint,
          data: 'none',
        }),
      );
    }
    const before = await queue.count();
    const r = await produce({ redis, queue, plan: p, log, base: { tripleIds: base, fingerprints: [p.fingerprint] } });
    expect(r).toMatchObject({ expected: 25, skippedBase: 5, enqueuedMessages: 25, enqueuedTriples: 25 });
    expect((await queue.count()) - before).toBe(25);
    const jobs = await queue.getWaiting(0, 100);
    const mine = jobs.filter((j) => j.data.buildId === p.buildId);
    expect(mine.every((j) => j.data.proxies.length === 1)).toBe(true);
    expect(mine.some((j) => j.data.task === 'cifar10' && j.data.proxies[0] === 'params')).toBe(false);
  });
});
