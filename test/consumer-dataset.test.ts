import { readFileSync } from 'fs';
import { join } from 'path';
import { NotFoundError } from '../src/errors';
import { LocalCache } from '../src/storage/cache';
import { openDataset } from '../src/storage/dataset';
import { parsePythonJson } from '../src/storage/naslib';
import { publishVersion } from '../src/storage/publish';
import { pullVersion } from '../src/storage/pull';
import { row, startTestS3, storeOf } from './helpers/s3';

const NB201 = join(__dirname, 'fixtures', 'reference', 'zc_nasbench201_subset.json');
type Entry = Record<string, { score: number; time: number } | number | string>;

describe('openDataset', () => {
  let env: Awaited<ReturnType<typeof startTestS3>>;
  const A = '(0, 2, 3, 2, 3, 1)';
  const B = '(1, 1, 1, 1, 1, 1)';
  beforeAll(async () => {
    env = await startTestS3('dataset');
    const store = storeOf(env.s3);
    await publishVersion(store, {
      dataset: 'small',
      buildId: 'b1',
      rows: [
        row({ arch: A, proxy: 'synflow', score: 41.9, time: 0.5, seed: 1 }),
        row({ arch: A, proxy: 'synflow', score: 40.1, time: 0.6, seed: 0 }), // two seeds: the value is their mean, 41
        row({ arch: A, proxy: 'params', score: 0.615386, time: 0.01 }),
        row({ arch: B, proxy: 'params', score: 0.073306, time: 0.01 }),
        row({ arch: B, proxy: 'jacov', status: 'failed', reason: 'singular' }),
        row({ task: 'cifar100', arch: A, proxy: 'params', score: 0.621236 }),
      ],
      groundTruth: [{ space: 'nasbench201', task: 'cifar10', arch: A, valAccuracy: 86.06, origin: 'test' }],
      expected: [],
      provenance: { fingerprint: 'test', dataSources: [] },
    });
  });
  afterAll(async () => env.stop());

  const s3opts = () => ({ endpoint: env.s3.endpoint, credentials: env.s3.credentials, cache: new LocalCache(join(env.dir, 'cache')) });

  test('from S3: lookups, one value per cell, failed cells without a score, rows and filters', async () => {
    const ds = await openDataset(`s3://${env.s3.bucket}/small`, undefined, s3opts());
    expect(ds.version).toBe('v1');
    expect(ds.score('nasbench201', 'cifar10', A, 'synflow')).toBeCloseTo(41, 12);
    expect(ds.time('nasbench201', 'cifar10', A, 'synflow')).toBe(0.6);
    expect(ds.score('nasbench201', 'cifar10', B, 'jacov')).toBeUndefined();
    expect(ds.score('nasbench201', 'cifar10', 'unknown', 'params')).toBeUndefined();
    expect(ds.score('nasbench201', 'svhn', A, 'params')).toBeUndefined();
    expect(ds.valAccuracy('nasbench201', 'cifar10', A)).toBe(86.06);
    expect(ds.valAccuracy('nasbench201', 'cifar10', B)).toBeUndefined();
    expect([...ds.rows()]).toHaveLength(6);
    expect(ds.filter({ task: 'cifar10', proxy: ['synflow', 'jacov'] }).map((r) => r.status)).toEqual(['ok', 'ok', 'failed']);
    expect(ds.proxies('nasbench201', 'cifar10')).toEqual(['params', 'synflow']);
    expect(ds.archs('nasbench201', 'cifar10')).toEqual([A, B]);
    expect(ds.tasks('nasbench201').sort()).toEqual(['cifar10', 'cifar100']);
    expect([...ds.groundTruth()]).toHaveLength(1);
  });

  test('from a pulled directory (Parquet or NASLib files only) and from a NASLib file', async () => {
    const store = storeOf(env.s3);
    const cache = new LocalCache(join(env.dir, 'cache'));
    await pullVersion(store, { dataset: 'small', outDir: join(env.dir, 'pq'), format: 'parquet', cache });
    await pullVersion(store, { dataset: 'small', outDir: join(env.dir, 'nl'), format: 'naslib', cache });
    for (const dir of ['pq', 'nl']) {
      const ds = await openDataset(join(env.dir, dir));
      expect({ dir, v: ds.version, acc: ds.valAccuracy('nasbench201', 'cifar10', A) }).toEqual({ dir, v: 'v1', acc: 86.06 });
      expect(ds.score('nasbench201', 'cifar10', A, 'synflow')).toBeCloseTo(41, 12);
    }
    const file = await openDataset(NB201);
    const original = parsePythonJson(readFileSync(NB201, 'utf8'), NB201) as Record<string, Record<string, Entry>>;
    const entry = original['ImageNet16-120']!['(2, 2, 2, 2, 2, 2)']!;
    expect(file.score('nasbench201', 'ImageNet16-120', '(2, 2, 2, 2, 2, 2)', 'flops')).toBe((entry.flops as { score: number }).score);
    expect(file.valAccuracy('nasbench201', 'ImageNet16-120', '(2, 2, 2, 2, 2, 2)')).toBe(entry.val_accuracy);
    expect(file.score('nasbench201', 'cifar10', '(3, 2, 4, 0, 4, 4)', 'synflow')).toBeUndefined();
    const nwot = [...file.rows()].filter((r) => r.proxy === 'nwot' && r.score === -Infinity);
    expect(nwot).toHaveLength(3);
  });

  test('a location that is neither S3, a pulled directory nor a file is a NotFoundError', async () => {
    await expect(openDataset(join(env.dir, 'missing'))).rejects.toThrow(NotFoundError);
    await expect(openDataset(env.dir)).rejects.toThrow(/no zcbench-pull\.json/);
    await expect(openDataset(`s3://${env.s3.bucket}/small`, 'v5', s3opts())).rejects.toThrow(/version "v5" of dataset small not found/);
  });
});
