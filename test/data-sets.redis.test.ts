import type { ChildProcess } from 'child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import type { Redis } from 'ioredis';
import { tmpdir } from 'os';
import { join } from 'path';
import { redisKeys } from '../src/queue/names';
import { loadMinibatch } from '../src/core/data';
import { decodeMinibatch } from '../src/core/data/minibatch-object';
import { Rng } from '../src/core/rng';
import { objectKey, sha256Of } from '../src/storage/objects';
import { readDataManifest } from '../src/storage/data-sets';
import type { ResultRow } from '../src/storage/rows';
import { runCli } from './helpers/cli';
import { cifarRecords, gradientRecord } from './helpers/data';
import { imageBatchPickle } from './helpers/pickle';
import { writeTaskonomy } from './helpers/taskonomy';
import { cleanupRedis, startTestS3, testRedis, uniquePrefix, until, type TestS3 } from './helpers/pipeline';

jest.setTimeout(400_000);

/** A CIFAR-10 python batch of `n` gradient records starting at record `from`. */
function cifarPickle(from: number, n: number): Buffer {
  const recs = cifarRecords(Array.from({ length: n }, (_, r) => gradientRecord(from + r)));
  const pixels = new Uint8Array(n * 3072);
  const labels: number[] = [];
  for (let r = 0; r < n; r++) {
    labels.push(recs[r * 3073]!);
    pixels.set(recs.subarray(r * 3073 + 1, (r + 1) * 3073), r * 3072);
  }
  return imageBatchPickle(pixels, 3072, labels);
}

describe('published minibatches (zcbench data add) on a cluster', () => {
  const prefix = uniquePrefix('dataset');
  const dir = mkdtempSync(join(tmpdir(), 'zct-dataset-'));
  let redis: Redis;
  let s3: TestS3;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    redis = await testRedis();
    s3 = await startTestS3('dataset');
    env = { ZC_QUEUE_PREFIX: prefix, METRICS_PORT: '0', S3_ENDPOINT: s3.embedded.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
  });
  afterAll(async () => {
    await cleanupRedis(redis, prefix);
    redis.disconnect();
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const rowsOf = async (buildId: string): Promise<ResultRow[]> =>
    (await redis.xrange(redisKeys(prefix).results(buildId), '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('row') + 1]!) as ResultRow);

  /** Two `zcbench work` processes in empty working directories (own ZC_HOME each) until `buildId` has `n` rows. */
  async function buildOnTwoWorkers(buildId: string, n: number, tag: string): Promise<ResultRow[]> {
    const workers: ChildProcess[] = [];
    const exits = [0, 1].map((k) => {
      const cwd = join(dir, `${tag}-w${k}`);
      mkdirSync(cwd);
      return runCli(['work', '--pool', 'light', '--concurrency', '1'], {
        cwd,
        env: { ...env, ZC_HOME: join(cwd, 'home') },
        timeoutMs: 300_000,
        onSpawn: (c) => workers.push(c),
      });
    });
    try {
      return await until(
        `${n} rows of ${buildId}`,
        async () => {
          const rows = await rowsOf(buildId);
          return rows.length >= n ? rows : undefined;
        },
        300_000,
      );
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(exits);
    }
  }

  test("data add publishes each seed's minibatch; workers without the data compute every triple from it; a corrupted object fails its job with an integrity reason", async () => {
    const source = join(dir, 'cifar-10-batches-py');
    mkdirSync(source);
    writeFileSync(join(source, 'data_batch_1'), cifarPickle(0, 12));
    writeFileSync(join(source, 'data_batch_2'), cifarPickle(12, 8));
    const add = await runCli(['data', 'add', 'mini', '--task', 'cifar10', '--from', source, '--seeds', '0..1', '--batch-size', '4'], {
      env: { ...env, ZC_HOME: join(dir, 'home') },
    });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const m = await readDataManifest(s3.store, 'mini');
    expect(Object.keys(m.seeds)).toEqual(['0', '1']);
    expect(m.shape).toEqual([4, 32, 32, 3]);
    expect(m.source.files.map((f) => f.path)).toEqual(['data_batch_1', 'data_batch_2']);
    // Each minibatch is the object data/<sha256>, beside the set's manifest data/mini/manifest.json.
    const listed = await s3.store.list('data/', '/');
    const objects = Object.values(m.seeds).flatMap((s) => [s.minibatch, s.second]);
    expect(listed.keys.map((k) => k.key).sort()).toEqual(objects.map((o) => `data/${o.sha256}`).sort());
    expect(listed.prefixes).toEqual(['data/mini/']);
    const ls = await runCli(['data', 'ls'], { env: { ...env, ZC_HOME: join(dir, 'home') } });
    expect(ls.stdout).toMatch(/mini\s+cifar10\s+4\s+0,1\s+4x32x32x3/);

    const produce = async (buildId: string) => {
      const spec = join(dir, `${buildId}.json`);
      writeFileSync(
        spec,
        JSON.stringify({
          dataset: 'zct-mini',
          buildId,
          spaces: ['nasbench201'],
          tasks: ['cifar10'],
          proxies: ['grad_norm', 'snip'],
          archs: ['(2, 3, 2, 0, 2, 3)', '(1, 1, 1, 1, 1, 1)'],
          seeds: [0, 1],
          batchSize: { default: 4 },
          data: { dataset: 'mini' },
        }),
      );
      const p = await runCli(['produce', '--spec', spec], { env: { ...env, ZC_HOME: join(dir, 'home') } });
      expect(p.stdout).toMatch(/4 messages \(8 triples\)/);
      expect(p.code).toBe(0);
    };
    const okBuild = `zct-mini-ok-${process.pid}`;
    await produce(okBuild);
    const rows = await buildOnTwoWorkers(okBuild, 8, 'ok');
    expect(rows.map((r) => r.reason ?? r.status)).toEqual(Array(8).fill('ok'));
    for (const r of rows) expect(r.dataSha256).toBe(m.seeds[String(r.seed)]!.minibatch.sha256);
    // Neither worker's working directory holds any data: each fetched the minibatches into its cache.
    for (const k of [0, 1]) expect(readdirSync(join(dir, `ok-w${k}`))).toEqual(['home']);

    // Seed 1's minibatch object damaged in the bucket: its jobs fail naming the integrity problem; seed 0's are computed.
    await s3.store.putKey(
      objectKey(m.seeds['1']!.minibatch.sha256, 'minibatch'),
      new Uint8Array(m.seeds['1']!.minibatch.bytes).fill(7),
      'application/octet-stream',
    );
    const badBuild = `zct-mini-bad-${process.pid}`;
    await produce(badBuild);
    const after = await buildOnTwoWorkers(badBuild, 8, 'bad');
    for (const r of after) {
      if (r.seed === 0) expect(r.status).toBe('ok');
      else {
        expect(r.status).toBe('failed');
        expect(r.reason).toMatch(/^integrity: /);
      }
    }
    expect(after.filter((r) => r.status === 'ok')).toHaveLength(4);
  });

  test('a Taskonomy set stores the dense and soft targets, and its manifest lists the files its minibatches read', async () => {
    const root = join(dir, 'taskonomydata_mini');
    writeTaskonomy(root);
    const home = { env: { ...env, ZC_HOME: join(dir, 'home') } };
    for (const task of ['class_scene', 'room_layout'] as const) {
      const add = await runCli(['data', 'add', `tnb-${task}`, '--task', task, '--from', root, '--seeds', '0', '--batch-size', '2'], home);
      expect([add.code, add.stderr]).toEqual([0, '']);
      const m = await readDataManifest(s3.store, `tnb-${task}`);
      const ref = m.seeds['0']!.minibatch;
      const stored = decodeMinibatch(await s3.store.getVerified(ref.sha256, 'minibatch'), ref.sha256, 2);
      const drawn = await loadMinibatch({ source: 'path', path: root }, { task, batchSize: 2, rng: new Rng(0).fork('data') });
      expect(Buffer.from(stored.inputs.buffer).equals(Buffer.from(drawn.inputs.buffer))).toBe(true);
      expect(stored.target).toEqual(drawn.target);
      expect(stored.target.kind).toBe(task === 'class_scene' ? 'soft' : 'dense');
      // The files read by both streams' draws, relative to the folder, each with its sha256.
      const relative = (drawn.files ?? []).map((f) => f.path.slice(root.length + 1));
      expect(relative.length).toBeGreaterThan(0);
      for (const path of relative) expect(m.source.files.map((f) => f.path)).toContain(path);
      for (const f of m.source.files) expect(f.sha256).toBe(sha256Of(readFileSync(join(root, f.path))));
    }
  });
});
