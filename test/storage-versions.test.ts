import { ServiceError } from '../src/errors';
import { datasetKeys } from '../src/storage/manifest';
import type { ObjectStore } from '../src/storage/objects';
import { publishVersion, type PublishInput } from '../src/storage/publish';
import type { ResultRow } from '../src/storage/rows';
import { listVersionIds, readLatest, resolveVersion } from '../src/storage/versions';
import { row, startTestS3, storeOf } from './helpers/s3';
import { S3Proxy } from './helpers/s3-proxy';

/** Version numbers: a build that failed after taking one keeps it; no two builds end on the same one. */
jest.setTimeout(60_000);

function build(dataset: string, buildId: string, rows: ResultRow[]): PublishInput {
  return { dataset, buildId, rows, expected: [], provenance: { fingerprint: 'test', dataSources: [] } };
}

const rowsA = [row({ arch: '(0, 2, 3, 2, 3, 1)', proxy: 'params', score: 1.5 })];
const rowsB = [row({ arch: '(4, 0, 4, 1, 2, 0)', proxy: 'params', score: 2.5 })];

describe('version allocation', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let proxy: S3Proxy;
  let store: ObjectStore;
  beforeAll(async () => {
    s3 = await startTestS3('versions');
    proxy = await S3Proxy.start(s3.s3.endpoint);
    store = storeOf(s3.s3);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.stop();
  });

  test('build A fails after taking v1, build B publishes meanwhile: B gets v2, A completes v1', async () => {
    const ds = 'interleaved';
    // A's manifest never reaches S3 (S3 drops every attempt): A fails after its marker.
    const storeA = storeOf({ ...s3.s3, endpoint: proxy.endpoint }, 300);
    proxy.onRequest = (req) => !(req.method === 'PUT' && req.url?.split('?')[0]!.endsWith(`/${datasetKeys.manifest(ds, 'v1')}`));
    await expect(publishVersion(storeA, build(ds, 'build-a', rowsA))).rejects.toThrow(ServiceError);
    proxy.onRequest = () => true;
    expect(await store.getKey(datasetKeys.build(ds, 'build-a'))).not.toBeNull();

    const b = await publishVersion(store, build(ds, 'build-b', rowsB));
    expect(b.version).toBe('v2');
    const a = await publishVersion(store, build(ds, 'build-a', rowsA));
    expect(a.version).toBe('v1');

    expect(await listVersionIds(store, ds)).toEqual(['v1', 'v2']);
    expect((await resolveVersion(store, ds, 'v1')).manifest).toMatchObject({ buildId: 'build-a', rowCount: 1 });
    expect((await resolveVersion(store, ds, 'v2')).manifest).toMatchObject({ buildId: 'build-b', rowCount: 1 });
    // A's late completion does not move latest back from B's version.
    expect((await readLatest(store, ds))!.version).toBe('v2');
    // Re-runs keep their numbers.
    expect((await publishVersion(store, build(ds, 'build-a', rowsA))).version).toBe('v1');
    expect((await publishVersion(store, build(ds, 'build-b', rowsB))).version).toBe('v2');
  });

  test("a marker whose number another build's manifest holds (the old race) takes the next free number instead of failing", async () => {
    const ds = 'taken-marker';
    await publishVersion(store, build(ds, 'build-b', rowsB));
    await store.putKey(datasetKeys.build(ds, 'build-a'), JSON.stringify({ version: 'v1' }) + '\n');
    const a = await publishVersion(store, build(ds, 'build-a', rowsA));
    expect(a.version).toBe('v2');
    expect((await resolveVersion(store, ds, 'v2')).manifest.buildId).toBe('build-a');
    expect((await resolveVersion(store, ds, 'v1')).manifest.buildId).toBe('build-b');
  });
});
