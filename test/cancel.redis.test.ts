import { TASKS } from '../src/core/names';
import { CancelledError, NotFoundError } from '../src/errors';
import { Aggregator } from '../src/aggregator/aggregator';
import { readBuild } from '../src/queue/build';
import { redisKeys } from '../src/queue/names';
import { addJobs, openQueue } from '../src/queue/queues';
import { expandMessages } from '../src/producer/producer';
import { listVersionIds } from '../src/storage/versions';
import { runCli } from './helpers/cli';
import { redisUrl, startHarness, type Harness } from './helpers/pipeline';

/** Operators: `zcbench cancel`, and no command that waits forever on a build that does not exist. */
jest.setTimeout(120_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness('cancel');
});
afterAll(() => h.close());

const cliEnv = () => ({
  ZC_QUEUE_PREFIX: h.prefix,
  REDIS_URL: redisUrl(),
  METRICS_PORT: '0',
  S3_ENDPOINT: h.s3.embedded.endpoint,
  AWS_ACCESS_KEY_ID: h.s3.embedded.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: h.s3.embedded.credentials.secretAccessKey,
});

test('waiting on a build that does not exist fails at once, naming it', async () => {
  const missing = `zct-no-such-build-${process.pid}`;
  const err = await new Aggregator({ redis: h.redis, prefix: h.prefix, store: h.s3.store, log: h.log, buildIds: [missing], untilPublished: true })
    .run()
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NotFoundError);
  expect((err as Error).message).toMatch(new RegExp(`^build "${missing}" not found in Redis \\(builds: .*\\); \`zcbench produce\` creates it$`));
  const r = await runCli(['aggregate', missing, '--until-published'], { env: cliEnv(), timeoutMs: 60_000 });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`^zcbench aggregate: build "${missing}" not found in Redis`));
  const s = await runCli(['status', missing], { env: cliEnv(), timeoutMs: 60_000 });
  expect(s.code).toBe(2);
  expect(s.stderr).toBe(`zcbench status: build "${missing}" not found in Redis\n`);
  const c = await runCli(['cancel', missing], { env: cliEnv(), timeoutMs: 60_000 });
  expect(c.code).toBe(2);
  expect(c.stderr).toBe(`zcbench cancel: build "${missing}" not found in Redis\n`);
});

test('`zcbench cancel` removes the waiting jobs, status says cancelled, workers skip its jobs, nothing is published', async () => {
  const plan = h.plan({
    dataset: `zct-cancel-${process.pid}`,
    spaces: ['nasbench201'],
    tasks: ['cifar10'],
    proxies: ['synflow'],
    archs: { sample: 3 },
    batchSize: { default: 8 },
  });
  const other = h.plan({
    dataset: `zct-cancel-other-${process.pid}`,
    spaces: ['nasbench201'],
    tasks: ['cifar10'],
    proxies: ['synflow'],
    archs: { sample: 2, seed: 7 },
    batchSize: { default: 8 },
  });
  expect((await h.produce(plan)).enqueuedMessages).toBe(3);
  await h.produce(other);
  const light = openQueue('light', h.redis, h.prefix);
  try {
    const r = await runCli(['cancel', plan.buildId], { env: cliEnv() });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      `build ${plan.buildId} cancelled: removed 3 jobs from zc-light, 0 from zc-heavy; running jobs finish, workers skip any other, the aggregator will not publish it\n`,
    );
    expect(r.code).toBe(0);
    // Only the cancelled build's jobs went.
    const waiting = await light.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(waiting.map((j) => j.data.buildId)).toEqual([other.buildId, other.buildId]);
    await light.obliterate({ force: true });

    expect((await readBuild(h.redis, h.prefix, plan.buildId)).state).toBe('cancelled');
    const status = await runCli(['status', plan.buildId], { env: cliEnv() });
    expect(status.stdout).toMatch(new RegExp(`^  ${plan.buildId} \\[cancelled\\]: .*, cancelled: it will not be published; fingerprint \\S+$`, 'm'));
    const json = JSON.parse((await runCli(['status', plan.buildId, '--json'], { env: cliEnv() })).stdout) as {
      builds: { state: string; etaSeconds?: number }[];
    };
    expect(json.builds).toEqual([expect.objectContaining({ state: 'cancelled' })]);
    expect(json.builds[0]!.etaSeconds).toBeUndefined();

    // A job of the build delivered anyway (e.g. one that was running, retried) is skipped: no rows.
    const [first] = [...expandMessages(plan, new Map(TASKS.map((t) => [t, 'synthetic'])))].flatMap((e) => e.messages);
    await addJobs(light, [first!]);
    const worker = h.startWorker({ pool: 'light' });
    const done = await new Promise<unknown>((resolve) => worker.worker.on('completed', (_job, outcome) => resolve(outcome)));
    expect(done).toEqual({ skipped: 'build cancelled' });
    expect(worker.stats.jobsComputed).toBe(0);
    expect(await h.redis.xlen(redisKeys(h.prefix).results(plan.buildId))).toBe(0);

    // Waiting for it to publish fails at once; a rerun of the producer is refused.
    const err = await h.aggregate([plan.buildId]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as Error).message).toBe(`build ${plan.buildId} was cancelled (zcbench cancel): it will not be published`);
    expect(await listVersionIds(h.s3.store, plan.spec.dataset)).toEqual([]);
    await expect(h.produce(plan)).rejects.toThrow(CancelledError);
  } finally {
    await light.close();
  }
});
