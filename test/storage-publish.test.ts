import { PutObjectCommand } from '@aws-sdk/client-s3';
import { existsSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { Rng } from '../src/core/rng';
import { InputError, IntegrityError, NotFoundError, ServiceError } from '../src/errors';
import { LocalCache } from '../src/storage/cache';
import { openDataset } from '../src/storage/dataset';
import { startEmbeddedS3 } from '../src/storage/embedded';
import { datasetKeys } from '../src/storage/manifest';
import { ObjectStore, objectKey, sha256Of } from '../src/storage/objects';
import { decodeRowsParquet } from '../src/storage/parquet';
import { publishVersion, type PublishInput } from '../src/storage/publish';
import { pullVersion } from '../src/storage/pull';
import type { ResultRow } from '../src/storage/rows';
import { createS3Client } from '../src/storage/s3';
import { readLatest, resolveVersion, setLatest } from '../src/storage/versions';
import { row, startTestS3, storeOf, tempDir } from './helpers/s3';

const ARCHS = ['(0, 2, 3, 2, 3, 1)', '(4, 0, 4, 1, 2, 0)', '(1, 1, 1, 1, 1, 1)'];

function build(buildId: string, rows: ResultRow[], extra: Partial<PublishInput> = {}): PublishInput {
  return {
    dataset: 'demo',
    buildId,
    rows,
    expected: [],
    provenance: { fingerprint: 'test', dataSources: [{ source: 'synthetic', sha256: 'ab'.repeat(32) }] },
    ...extra,
  };
}

/** v1: NB201 cifar10 (3 archs × params, synflow; one synflow failed) and cifar100 (params). */
function v1Rows(): ResultRow[] {
  return [
    ...ARCHS.map((arch, i) => row({ arch, proxy: 'params', score: i + 0.5 })),
    row({ arch: ARCHS[0]!, proxy: 'synflow', score: 41.9 }),
    row({ arch: ARCHS[1]!, proxy: 'synflow', score: 50.5 }),
    row({ arch: ARCHS[2]!, proxy: 'synflow', status: 'failed', reason: 'OOM: tensor too large' }),
    row({ task: 'cifar100', arch: ARCHS[0]!, proxy: 'params', score: 0.62 }),
  ];
}

describe('publishing and reading versions (real s3rver)', () => {
  let env: Awaited<ReturnType<typeof startTestS3>>;
  let store: ObjectStore;
  beforeAll(async () => {
    env = await startTestS3('publish');
    store = storeOf(env.s3);
  });
  afterAll(async () => env.stop());

  test('publish writes objects, manifest and pointer; an incremental version reuses untouched parts', async () => {
    const v1 = await publishVersion(
      store,
      build('b1', v1Rows(), {
        groundTruth: [{ space: 'nasbench201', task: 'cifar10', arch: ARCHS[0]!, valAccuracy: 86.06, origin: 'test' }],
        expected: [
          { space: 'nasbench201', task: 'cifar10', proxy: 'params', count: 3 },
          { space: 'nasbench201', task: 'cifar10', proxy: 'synflow', count: 4 },
          { space: 'nasbench201', task: 'cifar100', proxy: 'params', count: 1 },
        ],
      }),
    );
    expect(v1.version).toBe('v1');
    expect(v1.uploaded).toBe(Object.keys(v1.manifest.files).length);
    expect(await readLatest(store, 'demo')).toEqual({ version: 'v1', manifestSha256: v1.manifestSha256 });
    const synflow = v1.manifest.coverage.find((c) => c.task === 'cifar10' && c.proxy === 'synflow')!;
    expect(synflow).toEqual({
      space: 'nasbench201',
      task: 'cifar10',
      proxy: 'synflow',
      expected: 4,
      ok: 2,
      failed: 1,
      failedByReason: { 'OOM: tensor too large': 1 },
    });
    for (const f of Object.values(v1.manifest.files)) expect(sha256Of(await store.getVerified(f.sha256))).toBe(f.sha256);

    // v2 retries the failed synflow triple (same id) and adds cifar100 synflow; cifar10/params is untouched.
    const uploadedBefore = store.stats.bytesUploaded;
    const retried = row({ arch: ARCHS[2]!, proxy: 'synflow', score: 0 });
    const v2 = await publishVersion(
      store,
      build('b2', [retried, row({ task: 'cifar100', arch: ARCHS[0]!, proxy: 'synflow', score: 44.2 })], {
        parentVersion: 'v1',
      }),
    );
    expect(v2.version).toBe('v2');
    expect(v2.manifest.parentVersion).toBe('v1');
    expect(v2.manifest.parentManifestSha256).toBe(v1.manifestSha256);
    // The cifar10 part held the replaced triple: rewritten. The cifar100 part kept, its new rows in a new part.
    const v1Parts = Object.entries(v1.manifest.files).filter(([, f]) => f.kind === 'rows');
    const kept = v1Parts.filter(([p, f]) => v2.manifest.files[p]?.sha256 === f.sha256).map(([p]) => p);
    expect(kept).toEqual(['parquet/nasbench201/cifar100/v1-0000.parquet']);
    expect(v2.reused).toBeGreaterThanOrEqual(2); // that part and the unchanged ground truth
    expect(v2.manifest.files['ground_truth/nasbench201.parquet']).toEqual(v1.manifest.files['ground_truth/nasbench201.parquet']);
    expect(v2.manifest.rowCount).toBe(v1.manifest.rowCount + 1);
    const bytesOfNewFiles = Object.entries(v2.manifest.files)
      .filter(([p, f]) => v1.manifest.files[p]?.sha256 !== f.sha256)
      .reduce((s, [, f]) => s + f.bytes, 0);
    // Only new objects, the manifest and the pointer went up: the reused parts were not re-uploaded.
    const manifestBytes = (await store.getKey(datasetKeys.manifest('demo', 'v2')))!.length;
    const pointerBytes = (await store.getKey(datasetKeys.latest('demo')))!.length;
    const markerBytes = (await store.getKey(datasetKeys.build('demo', 'b2')))!.length;
    const reservationBytes = (await store.getKey(datasetKeys.reservation('demo', v2.version)))!.length;
    const cardBytes = (await store.getKey(datasetKeys.card('demo', v2.version)))!.length;
    expect(store.stats.bytesUploaded - uploadedBefore).toBe(bytesOfNewFiles + manifestBytes + pointerBytes + markerBytes + reservationBytes + cardBytes);
    const synflow2 = v2.manifest.coverage.find((c) => c.task === 'cifar10' && c.proxy === 'synflow')!;
    expect(synflow2).toMatchObject({ expected: 4, ok: 3, failed: 0 });

    const ds = await openDataset(`s3://${store.bucket}/demo`, undefined, {
      endpoint: env.s3.endpoint,
      credentials: env.s3.credentials,
      cache: new LocalCache(join(env.dir, 'cache')),
    });
    expect(ds.version).toBe('v2');
    expect(ds.score('nasbench201', 'cifar10', ARCHS[2]!, 'synflow')).toBe(0);
    expect(ds.score('nasbench201', 'cifar100', ARCHS[0]!, 'synflow')).toBe(44.2);
    expect(ds.valAccuracy('nasbench201', 'cifar10', ARCHS[0]!)).toBe(86.06);
    expect([...ds.rows()].filter((r) => r.tripleId === retried.tripleId)).toHaveLength(1);
  });

  test('a crash before the pointer move leaves the previous version; re-running completes the same version', async () => {
    class CrashBeforePointer extends ObjectStore {
      override async putKey(key: string, body: Uint8Array | string, contentType?: string): Promise<void> {
        if (key.endsWith('/latest.json')) throw new Error('simulated crash before the pointer move');
        return super.putKey(key, body, contentType);
      }
    }
    const crashing = new CrashBeforePointer(store.s3, store.bucket);
    const rows = [row({ task: 'ImageNet16-120', arch: ARCHS[1]!, proxy: 'params', score: 0.1 })];
    const before = await readLatest(store, 'demo');
    await expect(publishVersion(crashing, build('b3', rows, { parentVersion: before!.version }))).rejects.toThrow(/simulated crash/);
    expect(await readLatest(store, 'demo')).toEqual(before);
    expect((await resolveVersion(store, 'demo')).manifest.version).toBe(before!.version);

    const done = await publishVersion(store, build('b3', rows, { parentVersion: before!.version }));
    expect(done.version).toBe('v3');
    expect(done.uploaded).toBe(0); // every object went up before the crash
    expect((await readLatest(store, 'demo'))!.version).toBe('v3');
    // Publishing the same build again changes nothing.
    const again = await publishVersion(store, build('b3', rows, { parentVersion: before!.version }));
    expect(again.manifestSha256).toBe(done.manifestSha256);
    // A published manifest is never rewritten: other rows under the same build id are refused.
    const other = [row({ task: 'ImageNet16-120', arch: ARCHS[1]!, proxy: 'params', score: 0.2 })];
    await expect(publishVersion(store, build('b3', other, { parentVersion: before!.version }))).rejects.toThrow(
      'invalid buildId: "b3" (already published demo@v3 with other content; publish under a new build id)',
    );
  });

  test('setLatest rolls back; older versions are verified through the parent hashes', async () => {
    expect((await resolveVersion(store, 'demo', 'v1')).verifiedBy).toBe('chain');
    await setLatest(store, 'demo', 'v2');
    expect((await resolveVersion(store, 'demo')).manifest.version).toBe('v2');
    expect((await resolveVersion(store, 'demo')).verifiedBy).toBe('pointer');
    await setLatest(store, 'demo', 'v3');
  });

  test('unknown datasets and versions, and bad rows, are clear errors', async () => {
    await expect(resolveVersion(store, 'nope')).rejects.toThrow(NotFoundError);
    await expect(resolveVersion(store, 'nope')).rejects.toThrow('dataset "nope" not found in bucket zcbench (datasets: demo)');
    await expect(resolveVersion(store, 'demo', 'v9')).rejects.toThrow('version "v9" of dataset demo not found (versions: v1, v2, v3)');
    const bad = { ...row({ arch: ARCHS[0]!, proxy: 'params' }), proxy: 'bogus' } as unknown as ResultRow;
    await expect(publishVersion(store, build('b4', [bad]))).rejects.toThrow(InputError);
    await expect(publishVersion(store, build('b4', [bad]))).rejects.toThrow(/^invalid rows\[0\]\.proxy: "bogus"/);
    await expect(publishVersion(store, build('b4', [], { parentVersion: 'v7' }))).rejects.toThrow(NotFoundError);
  });

  test('a corrupted object is detected: IntegrityError, and nothing under the final name', async () => {
    const pointer = (await readLatest(store, 'demo'))!;
    const m = (await resolveVersion(store, 'demo', pointer.version)).manifest;
    const [path, file] = Object.entries(m.files).find(([p]) => p.startsWith('zc_'))!;
    const good = await store.getVerified(file.sha256);
    const bad = Buffer.from(good);
    bad[10] = bad[10]! ^ 0xff; // same size, different content
    await store.s3.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: objectKey(file.sha256), Body: bad }));
    try {
      await expect(store.getVerified(file.sha256)).rejects.toThrow(IntegrityError);
      const out = tempDir('corrupt');
      const cache = new LocalCache(join(out.dir, 'cache'));
      await expect(pullVersion(store, { dataset: 'demo', outDir: join(out.dir, 'out'), cache })).rejects.toThrow(IntegrityError);
      expect(existsSync(join(out.dir, 'out', path))).toBe(false);
      expect(existsSync(cache.pathOf(file.sha256))).toBe(false);
      expect(existsSync(cache.pathOf(file.sha256) + '.partial')).toBe(false);
      // A publish that meets the damaged object uploads it again (size matches but the recorded hash is gone).
      const put = await store.putObject(good);
      expect(put.uploaded).toBe(true);
      await pullVersion(store, { dataset: 'demo', outDir: join(out.dir, 'out'), cache });
      expect(sha256Of(readFileSync(join(out.dir, 'out', path)))).toBe(file.sha256);
      out.remove();
    } finally {
      await store.putObject(good);
    }
  });

  test('an interrupted download resumes with a ranged GET', async () => {
    const rng = new Rng(7);
    const big = new Uint8Array(3_000_000);
    for (let i = 0; i < big.length; i += 4) new DataView(big.buffer).setUint32(i, rng.nextUint32());
    const { sha256, bytes } = await store.putObject(big);
    const tmp = tempDir('resume');
    const dest = join(tmp.dir, 'big.bin');
    const abort = new AbortController();
    const first = store.downloadVerified(sha256, bytes, dest, { signal: abort.signal, onProgress: (done) => done > 0 && abort.abort() });
    await expect(first).rejects.toThrow();
    const partial = statSync(dest + '.partial').size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(bytes);
    expect(existsSync(dest)).toBe(false);
    const second = await store.downloadVerified(sha256, bytes, dest);
    expect(second).toEqual({ downloadedBytes: bytes - partial, resumedFromBytes: partial });
    expect(sha256Of(readFileSync(dest))).toBe(sha256);

    // Two readers of one cache fetching the same object at once: one downloads, the other waits.
    const cacheDir = join(tmp.dir, 'cache');
    const both = await Promise.all([new LocalCache(cacheDir), new LocalCache(cacheDir)].map((c) => c.fetch(store, sha256, bytes)));
    expect(both.map((b) => b.downloadedBytes).sort((a, b) => a - b)).toEqual([0, bytes]);
    expect(sha256Of(readFileSync(both[0]!.path))).toBe(sha256);
    tmp.remove();
  });

  test('anonymous clients send unsigned requests (public buckets)', async () => {
    const anonymous = new ObjectStore(createS3Client({ endpoint: env.s3.endpoint, anonymous: true, retryDeadlineMs: 1000 }), store.bucket);
    expect((await readLatest(anonymous, 'demo'))!.version).toBe('v3');
    // s3rver refuses a request signed with a key id it does not know, as the anonymous client's
    // placeholder id 'anonymous' is: so the request above carried no signature at all.
    const unknownKey = new ObjectStore(
      createS3Client({ endpoint: env.s3.endpoint, credentials: { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' }, retryDeadlineMs: 1000 }),
      store.bucket,
    );
    await expect(readLatest(unknownKey, 'demo')).rejects.toThrow(ServiceError);
    await expect(readLatest(unknownKey, 'demo')).rejects.toThrow(/InvalidAccessKeyId.*not retryable|not retryable.*InvalidAccessKeyId/);
  });
});

describe('S3 outage during publish', () => {
  test('publish keeps retrying while S3 is down and succeeds when it is back, losing nothing', async () => {
    const tmp = tempDir('outage');
    const dir = join(tmp.dir, 's3');
    let s3 = await startEmbeddedS3({ dir });
    const port = s3.port;
    try {
      const store = storeOf(s3, 60_000);
      await publishVersion(store, build('o1', v1Rows()));
      await s3.stop();

      // While down, an operation with a short deadline gives up with a ServiceError.
      const impatient = storeOf(s3, 300);
      await expect(readLatest(impatient, 'demo')).rejects.toThrow(ServiceError);
      await expect(readLatest(impatient, 'demo')).rejects.toThrow(/ECONNREFUSED/);

      const rows = ARCHS.map((arch) => row({ task: 'ImageNet16-120', arch, proxy: 'flops', score: 22.08 }));
      const publishing = publishVersion(store, build('o2', rows, { parentVersion: 'v1' }));
      await new Promise((r) => setTimeout(r, 1500));
      s3 = await startEmbeddedS3({ dir, port });
      const result = await publishing;
      expect(result.version).toBe('v2');
      expect((await readLatest(store, 'demo'))!.version).toBe('v2');
      const cache = new LocalCache(join(tmp.dir, 'cache'));
      const pulled = await pullVersion(store, { dataset: 'demo', outDir: join(tmp.dir, 'out'), format: 'parquet', cache });
      const part = Object.entries(pulled.files).find(([p]) => p.startsWith('data/parquet/nasbench201/ImageNet16-120/'))!;
      const back = await decodeRowsParquet(readFileSync(join(tmp.dir, 'out', part[0])), part[0]);
      expect(back.map((r) => r.arch)).toEqual(ARCHS);
      expect(pulled.files['data/parquet/nasbench201/cifar10/v1-0000.parquet']).toBeDefined();

      // Down in the middle: S3 stops right after the publish's first write (its build marker).
      const before = store.stats.bytesUploaded;
      const more = ARCHS.map((arch) => row({ task: 'svhn', arch, proxy: 'params', score: 0.3 }));
      const midway = publishVersion(store, build('o3', more, { parentVersion: 'v2' }));
      while (store.stats.bytesUploaded === before) await new Promise((r) => setTimeout(r, 1));
      await s3.stop();
      await new Promise((r) => setTimeout(r, 1500));
      s3 = await startEmbeddedS3({ dir, port });
      const third = await midway;
      expect(third.version).toBe('v3');
      const all = await pullVersion(store, { dataset: 'demo', outDir: join(tmp.dir, 'out3'), format: 'parquet', cache });
      expect(
        Object.values(all.files)
          .filter((f) => f.kind === 'rows')
          .reduce((n, f) => n + f.rows, 0),
      ).toBe(v1Rows().length + 2 * ARCHS.length);
    } finally {
      await s3.stop();
      tmp.remove();
    }
  });
});
