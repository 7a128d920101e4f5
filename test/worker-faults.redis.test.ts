import { join } from 'path';
import { createBuild } from '../src/queue/build';
import { jobIdOf, tripleIdsOf } from '../src/queue/ids';
import { JOB_NAME, redisKeys, type Pool } from '../src/queue/names';
import { JOB_OPTIONS, openQueue } from '../src/queue/queues';
import type { JobPayload } from '../src/queue/schema';
import type { ResultRow } from '../src/storage/rows';
import { localFingerprint } from '../src/version';
import { startHarness, until, type Harness } from './helpers/pipeline';

/**
 * Compute children that hang or die, each cause named in the rows: a SIGSTOPped child meets its
 * deadline, a crash (exit code, a signal from outside) is not mistaken for running out of memory.
 * Real Redis, real children (two of them wrap the real child with a fault).
 */
jest.setTimeout(180_000);

const FAULTS = join(__dirname, 'fixtures', 'faults');
const ARCH = '(2, 3, 2, 0, 2, 3)';

describe('hung and dying compute children', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('worker-faults');
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(async () => {
    await Promise.all(h.workers.map((w) => w.close()));
    h.workers.length = 0;
  });

  async function streamRows(buildId: string): Promise<ResultRow[]> {
    const entries = await h.redis.xrange(redisKeys(h.prefix).results(buildId), '-', '+');
    return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('row') + 1]!) as ResultRow);
  }

  /** A build of one l2_norm triple, its job on `pool` with `attempts` tries; resolves with its row. */
  async function oneTriple(tag: string, pool: Pool, attempts: number): Promise<{ buildId: string; row: () => Promise<ResultRow> }> {
    const buildId = `zct-${tag}-${process.pid}`;
    h.buildIds.push(buildId);
    await createBuild(h.redis, h.prefix, { buildId, dataset: `zct-${tag}`, spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    const p: JobPayload = {
      buildId,
      dataset: `zct-${tag}`,
      space: 'nasbench201',
      task: 'cifar10',
      arch: ARCH,
      proxies: ['l2_norm'],
      seed: 0,
      batchSize: 8,
      data: { source: 'synthetic' },
      fingerprint: localFingerprint().id,
      dataId: 'synthetic',
    };
    const queue = openQueue(pool, h.redis, h.prefix);
    await queue.add(JOB_NAME, p, { ...JOB_OPTIONS, attempts, jobId: jobIdOf(buildId, Object.values(tripleIdsOf(p, ARCH))) });
    await queue.close();
    return { buildId, row: () => until(`the row of ${buildId}`, async () => (await streamRows(buildId))[0]) };
  }

  test('a child SIGSTOPped mid-job is killed at its deadline and the job retried to success', async () => {
    const worker = h.startWorker({ pool: 'light', deadline: { minSeconds: 3, secondsPerGiB: 0 } });
    const stopped: number[] = [];
    worker.children.once('job-start', ({ pid }: { pid: number }) => {
      stopped.push(pid);
      process.kill(pid, 'SIGSTOP');
    });
    const failures: string[] = [];
    worker.worker.on('failed', (_job, err) => failures.push(err.message));
    const { row } = await oneTriple('deadline', 'light', JOB_OPTIONS.attempts!);
    expect(await row()).toMatchObject({ status: 'ok', proxy: 'l2_norm', batchSize: 8 });
    expect(stopped).toHaveLength(1);
    expect(failures).toEqual([expect.stringMatching(/^timeout after 3 s: compute child \(pid \d+\) killed/)]);
    // The stopped child is gone (killed, not left behind), and the job did not move pools.
    expect(() => process.kill(stopped[0]!, 0)).toThrow(/ESRCH/);
    // The worker counts a job just after its rows reach the stream the test reads.
    await until('the worker to count the job', async () => (worker.stats.jobsComputed >= 1 ? true : undefined));
    expect(worker.stats).toMatchObject({ jobsComputed: 1, triplesOk: 1, movedToHeavy: 0 });
  });

  test('an exit code, a SIGTERM from outside and the memory watchdog give three different reasons', async () => {
    // One try each, so that the first death is the recorded one; the heavy pool, where memory failures end.
    const exits = h.startWorker({ pool: 'heavy', childModule: join(FAULTS, 'child-exits-3') });
    const exited = await oneTriple('exit3', 'heavy', 1);
    const exitRow = await exited.row();
    await exits.close();

    const terms = h.startWorker({ pool: 'heavy' });
    terms.children.once('job-start', ({ pid }: { pid: number }) => process.kill(pid, 'SIGTERM'));
    const termed = await oneTriple('sigterm', 'heavy', 1);
    const termRow = await termed.row();
    await terms.close();

    // A budget the job's plan fits, which the wrapped child outgrows at once.
    const budget = 300 * 2 ** 20;
    h.startWorker({ pool: 'heavy', heavyBudgetBytes: budget, childModule: join(FAULTS, 'child-allocates') });
    const hog = await oneTriple('watchdog', 'heavy', 1);
    const hogRow = await hog.row();

    expect(exitRow).toMatchObject({ status: 'failed', batchSize: 8 });
    expect(exitRow.reason).toMatch(/^failed after 1 attempts: compute child \(pid \d+\) exited with code 3 during the job/);
    expect(termRow).toMatchObject({ status: 'failed', batchSize: 8 });
    expect(termRow.reason).toMatch(/^failed after 1 attempts: compute child \(pid \d+\) was killed by SIGTERM during the job/);
    // Memory: the heavy pool's last retry at half the batch, then the watchdog's own words.
    expect(hogRow).toMatchObject({ status: 'failed', batchSize: 4 });
    expect(hogRow.reason).toMatch(
      /^out of memory on the heavy pool at batch size 4: compute child \(pid \d+\) over memory budget 300 MB: \d+ MB resident, killed by the watchdog/,
    );
    for (const r of [exitRow, termRow]) expect(r.reason).not.toMatch(/memory|OOM/i);
  });
});
