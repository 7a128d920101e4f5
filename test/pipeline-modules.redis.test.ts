import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { readBaseVersion } from '../src/producer/base';
import { withProxyModules } from '../src/producer/modules';
import { bundleProxyModule } from '../src/plugins/proxy-module';
import { openDataset } from '../src/storage/dataset';
import { openQueue } from '../src/queue/queues';
import { datasetKeys } from '../src/storage/manifest';
import { objectKey, sha256Of } from '../src/storage/objects';
import type { StoredRow } from '../src/storage/parquet';
import { pullVersion } from '../src/storage/pull';
import { REPO_ROOT, runCli } from './helpers/cli';
import { cliEnv } from './helpers/s3';
import { startHarness, type Harness } from './helpers/pipeline';

/** User proxy modules through a build (spec `proxyModules`): producer, workers and children, aggregator, real Redis and s3rver. */
jest.setTimeout(300_000);

const WEIGHT_COUNT = join(REPO_ROOT, 'examples/proxies/weight-count.ts');
const GRAD_ABS_MEAN = join(REPO_ROOT, 'examples/proxies/grad-abs-mean.ts');
const THROWS = join(REPO_ROOT, 'test/fixtures/proxy-modules/throws.ts');
const IMPOSTOR = join(REPO_ROOT, 'test/fixtures/proxy-modules/weight-count-copy.ts');
const ARCHS = ['(0, 2, 3, 2, 3, 1)', '(1, 0, 4, 2, 3, 0)'];

const spec = (dataset: string, proxyModules: string[], extra: Record<string, unknown> = {}) => ({
  dataset,
  spaces: ['nasbench201'],
  tasks: ['cifar10'],
  proxies: ['params'],
  archs: ARCHS,
  batchSize: { default: 2 },
  proxyModules,
  ...extra,
});

/** Build a spec end to end; its version's rows by column, and its manifest. */
async function build(h: Harness, s: Record<string, unknown>) {
  const plan = await withProxyModules(h.plan(s), h.s3.store);
  const produced = await h.produce(plan);
  const [published] = await h.aggregate([plan.buildId]);
  const { version, manifest } = published!.result;
  const ds = await openDataset(`s3://${h.s3.storeOpts.bucket}/${s.dataset as string}`, version, h.s3.storeOpts);
  const rows = (proxy: string): StoredRow[] => ds.filter({ proxy }).sort((a, b) => a.arch.localeCompare(b.arch));
  return { plan, produced, version, manifest, ds, rows };
}

describe('a build with user proxy modules, workers allowing them (ZC_ALLOW_PROXY_MODULES=1)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('modules');
    // The gate is read from the environment, through the config loader, when the worker starts.
    process.env.ZC_ALLOW_PROXY_MODULES = '1';
    try {
      h.startWorker({ pool: 'light', concurrency: 2, children: 1, store: h.s3.store });
    } finally {
      delete process.env.ZC_ALLOW_PROXY_MODULES;
    }
  });
  afterAll(async () => h?.close());

  test('a bundle altered in the store fails its jobs naming the module, without retries', async () => {
    const plan = await withProxyModules(h.plan(spec(`zct-mod-altered-${process.pid}`, [GRAD_ABS_MEAN])), h.s3.store);
    const { sha256 } = plan.modules![0]!;
    await h.s3.store.putKey(objectKey(sha256, 'plugin'), 'module.exports = { default: { name: "grad_abs_mean" } };', 'application/javascript');
    await h.produce(plan);
    const [published] = await h.aggregate([plan.buildId]);
    const ds = await openDataset(`s3://${h.s3.storeOpts.bucket}/${plan.spec.dataset}`, published!.result.version, h.s3.storeOpts);
    const rows = ds.filter({});
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      expect(r.status).toBe('failed');
      expect(r.reason).toMatch(
        new RegExp(
          `^proxy module grad_abs_mean \\(sha256 ${sha256.slice(0, 12)}…\\): plugins/${sha256}\\.js in bucket zcbench is corrupted: its content hashes to [0-9a-f]{64}$`,
        ),
      );
    }
    // The first failures of this worker: one attempt each.
    const queue = openQueue('light', h.redis, h.prefix);
    try {
      expect((await queue.getFailed()).map((j) => j.attemptsMade)).toEqual([1, 1]);
    } finally {
      await queue.close();
    }
  });

  test('weight_count is params × 1e6 exactly on every cell; rows carry name and sha256, the manifest file and sha256; a rebuild on it computes nothing', async () => {
    const dataset = `zct-mod-wc-${process.pid}`;
    const { sha256, bundle } = await bundleProxyModule(WEIGHT_COUNT);
    const b = await build(h, spec(dataset, [WEIGHT_COUNT]));
    expect(b.produced).toMatchObject({ expected: 4, enqueuedTriples: 4 });
    const params = b.rows('params');
    const counted = b.rows('weight_count');
    expect(counted.map((r) => r.arch)).toEqual(params.map((r) => r.arch));
    expect(counted).toHaveLength(ARCHS.length);
    for (const [i, r] of counted.entries()) {
      expect(r).toMatchObject({ status: 'ok', proxy: 'weight_count', module: sha256 });
      expect(r.score).toBe(params[i]!.score! * 1e6);
      expect(b.ds.score('nasbench201', 'cifar10', r.arch, 'weight_count')).toBe(r.score);
    }
    for (const r of params) expect(r.module).toBeUndefined();
    expect(b.manifest.modules).toEqual([{ name: 'weight_count', file: WEIGHT_COUNT, sha256 }]);
    const card = (await h.s3.store.getKey(datasetKeys.card(dataset, b.version)))!.toString('utf8');
    expect(card).toContain(`\`weight_count\` from \`${WEIGHT_COUNT}\`, sha256 \`${sha256}\``);
    expect(b.manifest.coverage.find((c) => c.proxy === 'weight_count')).toMatchObject({ expected: 2, ok: 2, failed: 0 });
    expect(b.ds.proxies('nasbench201', 'cifar10')).toEqual(['params', 'weight_count']);
    // The bundle is stored content-addressed, as the producer made it.
    const stored = await h.s3.store.getKey(objectKey(sha256, 'plugin'));
    expect(stored!.toString('utf8')).toBe(bundle);
    expect(sha256Of(stored!)).toBe(sha256);

    // `zcbench query` names the column like a proxy, with the module's sha256.
    const home = mkdtempSync(join(tmpdir(), 'zct-mod-home-'));
    try {
      const env = cliEnv(h.s3.embedded, home);
      const q = await runCli(
        ['query', `${dataset}@${b.version}`, '--space', 'nasbench201', '--task', 'cifar10', '--arch', ARCHS[0]!, '--proxies', 'params,weight_count', '--json'],
        { env },
      );
      expect(q.stderr).toBe('');
      const out = JSON.parse(q.stdout);
      expect(Object.keys(out.proxies)).toEqual(['params', 'weight_count']);
      expect(out.proxies.weight_count).toMatchObject({ score: out.proxies.params.score * 1e6, module: sha256 });
      expect(
        (
          await runCli(['query', `${dataset}@${b.version}`, '--space', 'nasbench201', '--task', 'cifar10', '--arch', ARCHS[0]!, '--proxies', 'weight_cnt'], {
            env,
          })
        ).stderr,
      ).toContain('weight_count');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }

    // The NASLib json has the column like any proxy; a pull of it alone reads back with it.
    const out = mkdtempSync(join(tmpdir(), 'zct-mod-pull-'));
    try {
      await pullVersion(h.s3.store, { dataset, version: b.version, format: 'naslib', outDir: out });
      const pulled = await openDataset(out);
      for (const r of counted) expect(pulled.score('nasbench201', 'cifar10', r.arch, 'weight_count')).toBe(r.score);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }

    // On that version as base: the same module under the same name is held, nothing is computed again.
    const again = await withProxyModules(h.plan(spec(dataset, [WEIGHT_COUNT], { baseVersion: b.version })), h.s3.store);
    const base = await readBaseVersion(h.s3.storeOpts, dataset, b.version);
    expect(await h.produce(again, base)).toMatchObject({ expected: 0, skippedBase: 4, enqueuedMessages: 0 });
    // Another module under that name: an error naming the field, nothing enqueued.
    const other = await withProxyModules(h.plan(spec(dataset, [IMPOSTOR], { baseVersion: b.version })), h.s3.store);
    await expect(h.produce(other, base)).rejects.toMatchObject({ name: 'InputError', field: 'spec proxyModules[0]' });
  });

  test('a module that throws gives failed rows naming it and its error; the other columns of its jobs are unaffected', async () => {
    const b = await build(h, spec(`zct-mod-throw-${process.pid}`, [THROWS, WEIGHT_COUNT]));
    const failed = b.rows('always_throws');
    expect(failed).toHaveLength(ARCHS.length);
    for (const r of failed) {
      expect(r.status).toBe('failed');
      expect(r.reason).toMatch(/^proxy module always_throws \(sha256 [0-9a-f]{12}…\) threw: deliberate failure in always_throws$/);
    }
    const params = b.rows('params');
    expect(params.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(b.rows('weight_count').map((r, i) => r.score === params[i]!.score! * 1e6)).toEqual([true, true]);
    expect(b.manifest.coverage.find((c) => c.proxy === 'always_throws')).toMatchObject({ ok: 0, failed: 2 });
  });
});

describe('workers without ZC_ALLOW_PROXY_MODULES', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('modules-refused');
    delete process.env.ZC_ALLOW_PROXY_MODULES;
    h.startWorker({ pool: 'light', concurrency: 2, children: 1, store: h.s3.store });
  });
  afterAll(async () => h?.close());

  test('refuse every job naming a module: its triples are failed rows with the reason, each job tried once', async () => {
    const b = await build(h, spec(`zct-mod-refused-${process.pid}`, [WEIGHT_COUNT]));
    const rows = [...b.rows('params'), ...b.rows('weight_count')];
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      expect(r.status).toBe('failed');
      expect(r.reason).toContain('proxy modules not allowed on this worker (ZC_ALLOW_PROXY_MODULES is not 1): weight_count not run');
    }
    expect(h.workers[0]!.stats).toMatchObject({ triplesFailed: 4, triplesOk: 0 });
    const queue = openQueue('light', h.redis, h.prefix);
    try {
      const jobs = await queue.getFailed();
      expect(jobs.map((j) => [j.attemptsMade, j.failedReason.startsWith('proxy modules not allowed')])).toEqual([
        [1, true],
        [1, true],
      ]);
    } finally {
      await queue.close();
    }
  });
});
