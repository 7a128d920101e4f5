import { PutObjectCommand } from '@aws-sdk/client-s3';
import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import { existsSync, mkdirSync, writeFileSync } from 'fs';
import { hostname } from 'os';
import { join } from 'path';
import { FormatError, IntegrityError } from '../src/errors';
import { LocalCache } from '../src/storage/cache';
import { datasetKeys, parseManifest, serializeManifest, type Manifest } from '../src/storage/manifest';
import { objectKey, sha256Of, type ObjectStore } from '../src/storage/objects';
import { publishVersion } from '../src/storage/publish';
import { pullVersion } from '../src/storage/pull';
import { pulledPath } from '../src/storage/pull-layout';
import { row, startTestS3, storeOf } from './helpers/s3';

/** `pull` against a hostile or broken store and cache: bounded downloads, stale locks, paths. */
jest.setTimeout(60_000);

describe('pull defends itself', () => {
  let env: Awaited<ReturnType<typeof startTestS3>>;
  let store: ObjectStore;
  let manifest: Manifest;
  const dataset = 'hostile';

  beforeAll(async () => {
    env = await startTestS3('pull-hostile');
    store = storeOf(env.s3);
    const rows = ['(0, 1, 2, 3, 4, 0)', '(1, 1, 1, 1, 1, 1)'].map((arch, i) => row({ arch, proxy: 'synflow', score: i }));
    const published = await publishVersion(store, {
      dataset,
      buildId: 'b1',
      rows,
      expected: [{ space: 'nasbench201', task: 'cifar10', proxy: 'synflow', count: rows.length }],
      provenance: { fingerprint: 'test', dataSources: [] },
    });
    manifest = published.manifest;
  });
  afterAll(() => env.stop());

  /** Make `files` the latest version's files, as a hostile store could. */
  async function publishManifest(version: string, files: Manifest['files']): Promise<void> {
    const m: Manifest = { ...manifest, version, parentVersion: null, parentManifestSha256: null, files };
    const bytes = serializeManifest(m);
    await store.putKey(datasetKeys.manifest(dataset, version), bytes);
    await store.putKey(datasetKeys.latest(dataset), JSON.stringify({ version, manifestSha256: sha256Of(bytes) }));
    expect(parseManifest(Buffer.from(bytes), version).files).toEqual(files);
  }

  test('an object that streams more bytes than the manifest says is aborted at that size', async () => {
    const f = Object.values(manifest.files).find((e) => e.kind === 'naslib')!;
    const original = await store.getVerified(f.sha256);
    const huge = Buffer.concat([original, randomBytes(4 * 2 ** 20)]);
    await store.s3.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: objectKey(f.sha256), Body: huge }));
    const cache = new LocalCache(join(env.dir, 'cache-size'));
    const before = store.stats.bytesDownloaded;
    let seen = 0;
    try {
      const err = await cache.fetch(store, f.sha256, f.bytes, { onProgress: (done) => (seen = Math.max(seen, done)) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(
        new RegExp(`^object ${f.sha256}: the download passed the manifest's size \\(\\d+ bytes > ${f.bytes}\\); aborted$`),
      );
      expect(store.stats.bytesDownloaded - before).toBeLessThanOrEqual(f.bytes);
      expect(seen).toBeLessThanOrEqual(f.bytes);
      expect(existsSync(cache.pathOf(f.sha256))).toBe(false);
      expect(existsSync(`${cache.pathOf(f.sha256)}.partial`)).toBe(false);
    } finally {
      await store.putObject(original);
    }
  });

  test('stale cache locks are taken over: a dead process, our own pid from an earlier process (containers), a bare pid', async () => {
    const f = Object.values(manifest.files)[0]!;
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const holders = [
      JSON.stringify({ pid: Number(dead), host: hostname(), token: 'gone' }),
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'an earlier process with our pid' }),
      String(process.pid),
    ];
    for (const [i, holder] of holders.entries()) {
      const cache = new LocalCache(join(env.dir, `cache-lock-${i}`));
      const lock = `${cache.pathOf(f.sha256)}.lock`;
      mkdirSync(join(lock, '..'), { recursive: true });
      writeFileSync(lock, holder);
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting for a lock held by ${holder}`)), 20_000)));
      try {
        const got = await Promise.race([cache.fetch(store, f.sha256, f.bytes), hung]);
        expect(got.fromCache).toBe(false);
        expect(existsSync(lock)).toBe(false);
      } finally {
        clearTimeout(timer);
      }
    }
  });

  test.each([
    ['../evil.json', 'it leaves the output directory', 'naslib-json'],
    ['parquet/../../evil.json', 'it leaves the output directory', 'naslib-json'],
    ['/tmp/evil.json', 'it is absolute', 'naslib-json'],
    ['parquet\\..\\..\\evil.json', 'it contains a backslash', 'naslib-json'],
    ['zc_\u0000.json', 'it contains a NUL byte', 'naslib-json'],
    ['manifest.json', 'manifest.json is written by pull itself', 'naslib-json'],
    // Parquet lands under data/, where pull writes its wide tables.
    ['wide/nasbench201/cifar10.parquet', 'data/wide/ is written by pull itself', 'parquet'],
    ['data/wide/x.json', 'data/wide/ is written by pull itself', 'naslib-json'],
  ])('a manifest path %j is refused, naming the path, before anything is written', async (hostile, why, format) => {
    const version = `v${Math.floor(Math.random() * 1e9)}`;
    const [good, entry] = Object.entries(manifest.files).find(([, f]) => f.format === format)!;
    await publishManifest(version, { [good]: entry, [hostile]: entry });
    const outDir = join(env.dir, `out-${version}`, 'inner');
    const err = await pullVersion(store, { dataset, outDir, cache: new LocalCache(join(env.dir, 'cache-paths')) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe(`manifest of ${dataset}@${version}: file path ${JSON.stringify(hostile)} refused: ${why}`);
    expect(existsSync(join(outDir, pulledPath(good, entry)))).toBe(false);
    expect(existsSync(join(env.dir, `out-${version}`, 'evil.json'))).toBe(false);
  });
});
