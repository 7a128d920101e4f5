import { PutObjectCommand } from '@aws-sdk/client-s3';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { datasetKeys, parseManifest } from '../src/storage/manifest';
import { objectKey, sha256Of } from '../src/storage/objects';
import { parsePythonJson } from '../src/storage/naslib';
import { runCli } from './helpers/cli';
import { cliEnv, startTestS3, storeOf } from './helpers/s3';

const REF = join(__dirname, 'fixtures', 'reference');
const FILES = ['zc_nasbench101_subset.json', 'zc_nasbench201_subset.json', 'zc_nasbench301_subset.json'].map((f) => join(REF, f));
type Tables = Record<string, Record<string, Record<string, unknown>>>;

describe('zcbench import-naslib, ls, pull, query against a real s3rver', () => {
  let env: Awaited<ReturnType<typeof startTestS3>>;
  let cli: (args: string[], zcHome?: string) => ReturnType<typeof runCli>;
  beforeAll(async () => {
    env = await startTestS3('consumer');
    cli = (args, zcHome = join(env.dir, 'home')) => runCli(args, { env: cliEnv(env.s3, zcHome), cwd: env.dir });
  });
  afterAll(async () => env.stop());

  test('import-naslib publishes the three released files as one version', async () => {
    const r = await cli(['import-naslib', ...FILES, '--dataset', 'nbsz']);
    expect(r.stderr).not.toMatch(/"level":(50|60)|zcbench/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('zc_nasbench101_subset.json: nasbench101');
    expect(r.stdout).toContain('zc_nasbench201_subset.json: nasbench201 (from file name), 2174 entries, 26087 scores');
    expect(r.stdout).toMatch(/^nbsz@v1 manifest sha256 [0-9a-f]{64}$/m);
    expect(r.stdout).toContain('40287 rows, 3399 val_accuracy values');
    const m = parseManifest((await storeOf(env.s3).getKey(datasetKeys.manifest('nbsz', 'v1')))!, 'v1');
    expect(m.backends).toEqual(['imported']);
    expect(m.dataSources.map((d) => d.source)).toEqual(FILES.map((f) => f.slice(REF.length + 1)));
    const rows = Object.values(m.files).filter((f) => f.kind === 'rows');
    expect(rows.reduce((n, f) => n + f.rows, 0)).toBe(40287);
  });

  test('ls lists the dataset, its coverage and its versions', async () => {
    const all = await cli(['ls']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^nbsz\s+v1\s+\S+ \S+\s+-\s+40287\s+40287\/40287 ok \(100\.0%\), 0 failed\s+[\d.]+ MB$/m);
    const one = await cli(['ls', '--dataset', 'nbsz']);
    expect(one.stdout).toMatch(/^nasbench201\/cifar10\s+12\s+8699\/8699 ok/m);
    expect(one.stdout).toMatch(/^nasbench201\/ImageNet16-120\s+12\s+8688\/8688 ok/m);
    const versions = await cli(['ls', '--dataset', 'nbsz', '--versions', '--json']);
    const parsed = JSON.parse(versions.stdout) as { version: string; latest: boolean; rows: number }[];
    expect(parsed).toEqual([expect.objectContaining({ version: 'v1', latest: true, rows: 40287 })]);
  });

  test('pull verifies every file; a second pull downloads 0 bytes; the NASLib files round-trip', async () => {
    const first = await cli(['pull', 'nbsz', '--out', 'a']);
    expect(first.code).toBe(0);
    const manifestSha = /^nbsz@v1 manifest sha256 ([0-9a-f]{64})$/m.exec(first.stdout)![1]!;
    const downloaded = Number(/^downloaded (\d+) bytes/m.exec(first.stdout)![1]);
    const out = join(env.dir, 'a');
    const manifestBytes = readFileSync(join(out, 'manifest.json'));
    expect(sha256Of(manifestBytes)).toBe(manifestSha);
    const m = parseManifest(manifestBytes, 'manifest.json');
    let total = 0;
    for (const [path, f] of Object.entries(m.files)) {
      // The manifest's path, under data/ for Parquet.
      expect(sha256Of(readFileSync(join(out, f.format === 'parquet' ? join('data', path) : path)))).toBe(f.sha256);
      total += f.bytes;
    }
    expect(downloaded).toBe(total);

    const second = await cli(['pull', 'nbsz@v1', '--out', 'b']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('downloaded 0 bytes (0 B); 0 objects fetched, 11 from cache');

    // Round trip: the pulled NASLib files hold the imported entries.
    for (const [space, file] of [
      ['nasbench201', FILES[1]!],
      ['nasbench301', FILES[2]!],
      ['nasbench101', FILES[0]!],
    ] as const) {
      const original = parsePythonJson(readFileSync(file, 'utf8'), file) as Tables;
      const pulled = parsePythonJson(readFileSync(join(env.dir, 'b', `zc_${space}.json`), 'utf8'), space) as Tables;
      if (space === 'nasbench101') {
        // The NB101 release nests one more level and has no `arch` field; zcbench writes the common layout.
        const inner = original.nasbench101 as unknown as Tables;
        expect(Object.keys(pulled)).toEqual(['cifar10']);
        for (const [arch, entry] of Object.entries(inner.cifar10!)) expect(pulled.cifar10![arch]).toEqual({ arch, ...(entry as object) });
      } else {
        expect(pulled).toEqual(original);
      }
    }
  });

  test('filters rewrite the subset: one space, one task, some proxies', async () => {
    const r = await cli(['pull', 'nbsz', '--space', 'nasbench201', '--task', 'cifar100', '--proxy', 'synflow,nwot', '--out', 'c']);
    expect(r.code).toBe(0);
    const record = JSON.parse(readFileSync(join(env.dir, 'c', 'zcbench-pull.json'), 'utf8')) as { files: Record<string, { rows: number }> };
    expect(Object.keys(record.files).sort()).toEqual([
      'data/ground_truth/nasbench201.parquet',
      'data/parquet/nasbench201/cifar100/v1-0000.parquet',
      'zc_nasbench201.json',
    ]);
    expect(record.files['data/parquet/nasbench201/cifar100/v1-0000.parquet']!.rows).toBe(725 * 2);
    const subset = parsePythonJson(readFileSync(join(env.dir, 'c', 'zc_nasbench201.json'), 'utf8'), 'x') as Tables;
    const original = parsePythonJson(readFileSync(FILES[1]!, 'utf8'), 'y') as Tables;
    expect(Object.keys(subset)).toEqual(['cifar100']);
    const arch = '(0, 2, 3, 2, 3, 1)';
    const o = original.cifar100![arch] as Record<string, unknown>;
    expect(subset.cifar100![arch]).toEqual({ idx: o.idx, arch, synflow: o.synflow, nwot: o.nwot, val_accuracy: o.val_accuracy });
  });

  test("query prints one architecture's scores", async () => {
    const r = await cli(['query', 'nbsz', '--space', 'nasbench201', '--task', 'cifar10', '--arch', '(0, 2, 3, 2, 3, 1)', '--proxy', 'params,flops', '--json']);
    expect(r.code).toBe(0);
    const q = JSON.parse(r.stdout) as { version: string; val_accuracy: number; proxies: Record<string, { score: number; time: number }> };
    expect(q.version).toBe('v1');
    expect(q.val_accuracy).toBe(86.06);
    // Each value says which code made it (imported tables: NASLib's) and on which backend.
    const made = { fingerprint: 'naslib', backend: 'imported' };
    expect(q.proxies).toEqual({
      flops: { score: 88.307392, time: 0.48845587600953877, ...made },
      params: { score: 0.615386, time: 0.4703852920792997, ...made },
    });

    // Any spelling `compute` accepts finds the same key: no spaces, NB201's API string; a pulled
    // directory works as the store does; --proxies is the documented name of --proxy.
    const api = '|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|';
    for (const [source, spelling] of [
      ['nbsz', '(0,2,3,2,3,1)'],
      ['nbsz@v1', api],
      ['./a', ' (0, 2,3, 2,3,1) '],
    ] as const) {
      const again = await cli(['query', source, '--space', 'nasbench201', '--task', 'cifar10', '--arch', spelling, '--proxies', 'params,flops', '--json']);
      expect({ spelling, code: again.code, stderr: again.stderr }).toEqual({ spelling, code: 0, stderr: '' });
      expect(JSON.parse(again.stdout)).toEqual({ ...q, arch_readable: api });
    }
    // People get rounded numbers; --json keeps them exact (above).
    const text = await cli(['query', 'nbsz', '--space', 'nasbench201', '--task', 'cifar10', '--arch', api, '--proxies', 'flops']);
    expect(text.stdout).toContain(`nasbench201/cifar10 (0, 2, 3, 2, 3, 1)  ${api}\nval_accuracy 86.06\n`);
    expect(text.stdout).toMatch(/^flops\s+88\.3074\s+0\.488\s+naslib\s+imported$/m);
  });

  test('bad input: one line naming what is wrong, exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['pull', 'nope'], /^zcbench pull: dataset "nope" not found in bucket zcbench \(datasets: nbsz\)\n$/],
      [['pull', 'nbsz@v9'], /^zcbench pull: version "v9" of dataset nbsz not found \(versions: v1\)\n$/],
      [['pull', 'nbsz', '--format', 'xml'], /^zcbench pull: invalid --format: "xml" \(valid: naslib, parquet, both\)\n$/],
      [['pull', 'nbsz', '--space', 'nasbench999'], /^zcbench pull: invalid --space: "nasbench999"/],
      [['query', 'nbsz', '--space', 'nasbench201', '--task', 'cifar10', '--arch', '(9, 9)'], /^zcbench query: invalid --arch: "\(9, 9\)" \(a NASLib tuple/],
      [
        ['query', 'nbsz', '--space', 'nasbench201', '--task', 'cifar10', '--arch', '(1,1,1,1,1,1)'],
        /^zcbench query: nbsz@v1 has no architecture "\(1,1,1,1,1,1\)" in nasbench201\/cifar10/,
      ],
      [['import-naslib', join(REF, 'README.md'), '--dataset', 'nbsz'], /^zcbench import-naslib: \S+README\.md: not JSON/],
      [['ls', '--bucket', 'nosuchbucket'], /^zcbench ls: S3 LIST datasets\/ \(bucket nosuchbucket\): the bucket does not exist\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 2, stderr: expect.stringMatching(message) });
    }
    // A JSON file that is not a NASLib table.
    const notNaslib = join(env.dir, 'zc_nasbench201_other.json');
    writeFileSync(notNaslib, JSON.stringify({ cifar10: [1, 2, 3] }));
    const r = await cli(['import-naslib', notNaslib, '--dataset', 'nbsz']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`zcbench import-naslib: ${notNaslib}: not a NASLib zc_<space>.json: "cifar10" is not an object of architectures\n`);
    // Nothing was published by the failed commands.
    expect((await cli(['ls', '--dataset', 'nbsz', '--versions', '--json'])).stdout).toContain('"version":"v1"');
  });

  test('set-latest rolls back to an earlier version and forward again', async () => {
    // The same content again is the same version; a fresh history of one file is new content.
    const same = await cli(['import-naslib', ...FILES, '--dataset', 'nbsz']);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/^nbsz: unchanged: v1 already holds this content \(nothing published\)$/m);
    const again = await cli(['import-naslib', FILES[2]!, '--dataset', 'nbsz', '--parent', 'none']);
    expect(again.stdout).toMatch(/^nbsz@v2 manifest sha256/m);
    // A fresh history does not move latest (it is not on top of it): set-latest does.
    expect((await cli(['set-latest', 'nbsz@v2'])).stdout).toMatch(/^nbsz: latest v1 → v2/);
    const back = await cli(['set-latest', 'nbsz@v1']);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^nbsz: latest v2 → v1 manifest sha256 [0-9a-f]{64}\n$/);
    const listed = JSON.parse((await cli(['ls', '--dataset', 'nbsz', '--versions', '--json'])).stdout) as { version: string; latest: boolean }[];
    expect(listed.map((v) => [v.version, v.latest])).toEqual([
      ['v1', true],
      ['v2', false],
    ]);
    const missing = await cli(['set-latest', 'nbsz@v7']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('zcbench set-latest: version "v7" of dataset nbsz not found (versions: v1, v2)\n');
    expect((await cli(['set-latest', 'nbsz@v2'])).stdout).toMatch(/^nbsz: latest v1 → v2/);
  });

  test('a corrupted object in the bucket: pull exits 3 and leaves no file under the final name', async () => {
    const store = storeOf(env.s3);
    const m = parseManifest((await store.getKey(datasetKeys.manifest('nbsz', 'v1')))!, 'v1');
    const file = m.files['zc_nasbench301.json']!;
    const good = await store.getVerified(file.sha256);
    const bad = Buffer.concat([good.subarray(0, 100), Buffer.from('X'), good.subarray(101)]);
    await store.s3.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: objectKey(file.sha256), Body: bad }));
    try {
      const r = await cli(['pull', 'nbsz', '--space', 'nasbench301', '--out', 'd'], join(env.dir, 'fresh-home'));
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        new RegExp(
          `^zcbench pull: object ${file.sha256} in bucket zcbench is corrupted: \\d+ bytes hashing to [0-9a-f]{64} \\(expected ${file.bytes} bytes\\)\\n$`,
        ),
      );
      expect(existsSync(join(env.dir, 'd', 'zc_nasbench301.json'))).toBe(false);
    } finally {
      await store.putObject(good);
    }
  });
});
