import { planJobMemory } from '../src/core/compute';
import { createBuild } from '../src/queue/build';
import { jobIdOf, tripleId, tripleIdsOf } from '../src/queue/ids';
import { JOB_NAME, redisKeys } from '../src/queue/names';
import { JOB_OPTIONS, openQueue, type ComputeQueue } from '../src/queue/queues';
import type { JobPayload } from '../src/queue/schema';
import type { ResultRow } from '../src/storage/rows';
import { localFingerprint } from '../src/version';
import { startHarness, until, type Harness } from './helpers/pipeline';

/** Workers under faults: a killed child, bad messages, jobs too big for their pool. Real Redis, real children. */
jest.setTimeout(300_000);

async function streamRows(h: Harness, buildId: string): Promise<ResultRow[]> {
  const entries = await h.redis.xrange(redisKeys(h.prefix).results(buildId), '-', '+');
  return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('row') + 1]!) as ResultRow);
}

function payload(buildId: string, arch: string, proxies: JobPayload['proxies'], batchSize: number): JobPayload {
  return {
    buildId,
    dataset: 'zct-faults',
    space: 'nasbench201',
    task: 'cifar10',
    arch,
    proxies,
    seed: 0,
    batchSize,
    data: { source: 'synthetic' },
    fingerprint: localFingerprint().id,
    dataId: 'synthetic',
  };
}

describe('workers under faults', () => {
  let h: Harness;
  let light: ComputeQueue;
  beforeAll(async () => {
    h = await startHarness('faults');
    light = openQueue('light', h.redis, h.prefix);
  });
  afterAll(async () => {
    await light?.close();
    await h?.close();
  });
  afterEach(async () => {
    await Promise.all(h.workers.map((w) => w.close()));
    h.workers.length = 0;
  });

  test('a child killed by SIGKILL mid-job: the job completes on the heavy pool, each triple once', async () => {
    const lightWorker = h.startWorker({ pool: 'light' });
    const heavyWorker = h.startWorker({ pool: 'heavy' });
    const plan = h.plan({
      dataset: `zct-kill-${process.pid}`,
      spaces: ['nasbench201'],
      tasks: ['cifar10'],
      proxies: ['l2_norm', 'synflow'],
      archs: ['(2, 3, 2, 0, 2, 3)'],
      batchSize: { default: 8 },
    });
    const killed: number[] = [];
    lightWorker.children.once('job-start', ({ pid }: { pid: number }) => {
      killed.push(pid);
      process.kill(pid, 'SIGKILL');
    });
    await h.produce(plan);
    const [published] = await h.aggregate([plan.buildId]);
    expect(killed).toHaveLength(1);
    expect(lightWorker.stats).toMatchObject({ movedToHeavy: 1, jobsComputed: 0 });
    // The worker counts a job just after its rows reach the stream the test reads.
    await until('the worker to count the job', async () => (heavyWorker.stats.jobsComputed >= 1 ? true : undefined));
    expect(heavyWorker.stats).toMatchObject({ jobsComputed: 1, triplesOk: 2 });
    const m = published!.result.manifest;
    expect(m.rowCount).toBe(2);
    for (const c of m.coverage) expect(c).toMatchObject({ expected: 1, ok: 1, failed: 0 });
  });

  test('the heavy pool runs out too (its child killed): a last retry at half the batch size, recorded', async () => {
    const lightWorker = h.startWorker({ pool: 'light' });
    const heavyWorker = h.startWorker({ pool: 'heavy' });
    const plan = h.plan({
      dataset: `zct-kill2-${process.pid}`,
      spaces: ['nasbench201'],
      tasks: ['cifar10'],
      proxies: ['snip'],
      archs: ['(2, 3, 2, 0, 2, 3)'],
      batchSize: { default: 8 },
    });
    const kill = ({ pid }: { pid: number }) => process.kill(pid, 'SIGKILL');
    lightWorker.children.once('job-start', kill);
    heavyWorker.children.once('job-start', kill);
    await h.produce(plan);
    await until('the snip row', async () => ((await streamRows(h, plan.buildId)).length > 0 ? true : undefined));
    const rows = await streamRows(h, plan.buildId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'ok', batchSize: 4, proxy: 'snip' });
    expect(lightWorker.stats.movedToHeavy).toBe(1);
    // The worker counts a job just after its rows reach the stream the test reads.
    await until('the worker to count the job', async () => (heavyWorker.stats.jobsComputed >= 1 ? true : undefined));
    expect(heavyWorker.stats).toMatchObject({ jobsComputed: 1, triplesOk: 1 });
  });

  test('a malformed payload and an unparsable architecture fail once, with the reason', async () => {
    h.startWorker({ pool: 'light' });
    const buildId = `zct-bad-${process.pid}`;
    h.buildIds.push(buildId);
    await createBuild(h.redis, h.prefix, { buildId, dataset: 'zct-faults', spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    const bad = payload(buildId, '(9, 9, 9, 9, 9, 9)', ['params', 'l2_norm'], 8);
    const badIds = tripleIdsOf(bad, bad.arch!);
    const badId = jobIdOf(buildId, Object.values(badIds));
    await light.add(JOB_NAME, { buildId, proxies: ['params'], colour: 'blue' } as unknown as JobPayload, { ...JOB_OPTIONS, jobId: 'zmalformed' });
    await light.add(JOB_NAME, bad, { ...JOB_OPTIONS, jobId: badId });

    const failedJob = (id: string) =>
      until(`job ${id} to fail`, async () => ((await light.getJob(id)) && (await light.getJobState(id)) === 'failed' ? light.getJob(id) : undefined));
    const malformed = (await failedJob('zmalformed'))!;
    expect(malformed.failedReason).toMatch(/^malformed job payload: /);
    expect(malformed.failedReason).toContain('dataset');
    expect(malformed.attemptsMade).toBe(1);

    const unparsable = (await failedJob(badId))!;
    expect(unparsable.failedReason).toContain('(9, 9, 9, 9, 9, 9)');
    expect(unparsable.attemptsMade).toBe(1);
    const rows = await streamRows(h, buildId);
    expect(rows.map((r) => [r.proxy, r.status]).sort()).toEqual([
      ['l2_norm', 'failed'],
      ['params', 'failed'],
    ]);
    for (const r of rows) {
      expect(r.reason).toMatch(/^invalid input: invalid arch: "\(9, 9, 9, 9, 9, 9\)"/);
      expect(r.tripleId).toBe(badIds[r.proxy]);
    }

    // A shape-only message of several architectures: the bad one's triples fail, the others' are computed.
    const mixedBuild = `${buildId}-mixed`;
    h.buildIds.push(mixedBuild);
    await createBuild(h.redis, h.prefix, { buildId: mixedBuild, dataset: 'zct-faults', spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    const { arch: _arch, ...base } = payload(mixedBuild, '(0, 1, 2, 3, 4, 0)', ['params', 'flops'], 64);
    const mixed: JobPayload = { ...base, archs: ['(0, 1, 2, 3, 4, 0)', '(0, 1, 2, 3, 4, 7)', '(4, 4, 4, 4, 4, 4)'] };
    await light.add(JOB_NAME, mixed, { ...JOB_OPTIONS, jobId: 'zmixed' });
    const mixedRows = await until('the mixed rows', async () => {
      const r = await streamRows(h, mixedBuild);
      return r.length === 6 ? r : undefined;
    });
    expect(mixedRows.map((r) => [r.arch, r.proxy, r.status])).toEqual([
      ['(0, 1, 2, 3, 4, 0)', 'params', 'ok'],
      ['(0, 1, 2, 3, 4, 0)', 'flops', 'ok'],
      ['(0, 1, 2, 3, 4, 7)', 'params', 'failed'],
      ['(0, 1, 2, 3, 4, 7)', 'flops', 'failed'],
      ['(4, 4, 4, 4, 4, 4)', 'params', 'ok'],
      ['(4, 4, 4, 4, 4, 4)', 'flops', 'ok'],
    ]);
    for (const r of mixedRows) expect(r.tripleId).toBe(tripleIdsOf(mixed, r.arch)[r.proxy]);
    await until('the mixed job to complete', async () => ((await light.getJob('zmixed')) === undefined ? true : undefined));
  });

  test('memory: over the light budget goes heavy without running; over the heavy budget runs at half the batch', async () => {
    // Budgets from the core's own estimate: the job (batch 64) fits neither pool, its half (32) fits the heavy one.
    const arch = '(3, 3, 3, 3, 3, 3)';
    // The least a worker can plan it in (its plan under a budget nothing fits).
    const est = (batchSize: number) => planJobMemory({ space: 'nasbench201', task: 'cifar10', arch, batchSize, proxies: ['snip'] }, 0).needed;
    const lightWorker = h.startWorker({ pool: 'light', lightBudgetBytes: est(64) - 1 });
    const heavyWorker = h.startWorker({ pool: 'heavy', heavyBudgetBytes: est(64) - 1 });
    const plan = h.plan({ dataset: `zct-mem-${process.pid}`, spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['snip'], archs: [arch] });
    await h.produce(plan);
    const rows = await until('the snip row', async () => {
      const r = await streamRows(h, plan.buildId);
      return r.length > 0 ? r : undefined;
    });
    expect(lightWorker.stats).toMatchObject({ movedToHeavy: 1, jobsComputed: 0 });
    expect(lightWorker.children.pids()).toEqual([]);
    // The worker counts a job just after its rows reach the stream the test reads.
    await until('the worker to count the job', async () => (heavyWorker.stats.jobsComputed >= 1 ? true : undefined));
    expect(heavyWorker.stats).toMatchObject({ jobsComputed: 1 });
    expect(rows).toHaveLength(1);
    // The triple keeps its id (requested batch 64) and records the batch it ran with.
    expect(rows[0]).toMatchObject({ status: 'ok', batchSize: 32 });
    expect(rows[0]!.reason).toBeUndefined();
    expect(rows[0]!.tripleId).toBe(
      tripleId({
        dataset: plan.spec.dataset,
        space: 'nasbench201',
        task: 'cifar10',
        arch,
        proxy: 'snip',
        seed: 0,
        batchSize: 64,
        fingerprint: localFingerprint().id,
        data: 'synthetic',
      }),
    );
  });
});
