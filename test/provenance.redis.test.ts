import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { PROXIES, type ProxyName } from '../src/core/names';
import { proxyReadsData } from '../src/core/proxies';
import { readBaseVersion } from '../src/producer/base';
import { tripleDataId, tripleId } from '../src/queue/ids';
import { openDataset } from '../src/storage/dataset';
import { publishVersion } from '../src/storage/publish';
import type { ResultRow } from '../src/storage/rows';
import { CORE_DIGEST_FILE, coreSourceDigest, localFingerprint } from '../src/version';
import { cifarRecords, gradientRecord } from './helpers/data';
import { startHarness, type Harness } from './helpers/pipeline';

/** Issue 13 items 1 and 2: a row says which code and which data made it, and a base version is reused only where both match. */
jest.setTimeout(300_000);

const CORE = join(__dirname, '..', 'src', 'core');
const ARCHS = ['(0, 2, 3, 2, 3, 1)', '(1, 2, 0, 3, 2, 4)'];

/** A fingerprint of this very code for another backend family: what a worker started with another ZC_BACKEND reports. */
function otherFingerprint(): string {
  return localFingerprint(localFingerprint().backend === 'cpu' ? 'wasm' : 'cpu').id;
}

describe('compute fingerprint', () => {
  test('covers every file of src/core, the resolved tfjs versions and the backend family', () => {
    const fp = localFingerprint();
    expect(fp.core).toBe(coreSourceDigest(CORE));
    const tfjsCore = JSON.parse(readFileSync(require.resolve('@tensorflow/tfjs-core/package.json'), 'utf8')) as { version: string };
    expect(fp.tfjs['@tensorflow/tfjs-core']).toBe(tfjsCore.version);
    expect(Object.keys(fp.tfjs)).toEqual(expect.arrayContaining(['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm']));
    expect(fp.id).toMatch(new RegExp(`^[0-9a-f]{16}-${fp.backend}$`));
    expect(otherFingerprint()).not.toBe(fp.id);

    // One changed byte anywhere under the core is another fingerprint; a copy of it is the same one.
    const dir = mkdtempSync(join(tmpdir(), 'zct-core-'));
    try {
      cpSync(CORE, join(dir, 'core'), { recursive: true });
      expect(coreSourceDigest(join(dir, 'core'))).toBe(fp.core);
      appendFileSync(join(dir, 'core', 'proxies', 'snip.ts'), ' ');
      expect(coreSourceDigest(join(dir, 'core'))).not.toBe(fp.core);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the compiled tree reports the fingerprint the sources do (the build records the core digest)', () => {
    const root = join(__dirname, '..');
    // Next to dist/, so the compiled code finds package.json and node_modules as dist/ does.
    const out = join(root, `dist-fingerprint-test-${process.pid}`);
    try {
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root });
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the build just compiled, at a path known at run time
      const compiled = require(join(out, 'version.js')) as typeof import('../src/version');
      compiled.writeCoreDigest(CORE, join(out, CORE_DIGEST_FILE));
      const id = execFileSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(join(out, 'version.js'))}).localFingerprint().id)`], {
        cwd: root,
        env: process.env,
      }).toString();
      expect(id).toBe(localFingerprint().id);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('proxies that read no data are derived from their passes', () => {
    expect(PROXIES.filter((p) => !proxyReadsData(p))).toEqual(['flops', 'l2_norm', 'params', 'synflow', 'zen']);
  });
});

describe('provenance through the pipeline', () => {
  let h: Harness;
  let dataDir: string;
  beforeAll(async () => {
    h = await startHarness('provenance');
    h.startWorker({ pool: 'light' });
    dataDir = mkdtempSync(join(tmpdir(), 'zct-provenance-data-'));
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a worker of another fingerprint refuses the job: failed rows name both fingerprints', async () => {
    const dataset = `zct-refuse-${process.pid}`;
    const plan = h.plan({ dataset, spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params'], archs: ARCHS });
    const other = otherFingerprint();
    // Only the mismatched worker listens on this build's queue: a second harness keeps the good worker away.
    const h2 = await startHarness('provenance-refuse');
    try {
      h2.startWorker({ pool: 'light', fingerprint: other });
      h2.buildIds.push(plan.buildId);
      await h2.produce(plan);
      const [published] = await h2.aggregate([plan.buildId]);
      const coverage = published!.result.manifest.coverage;
      expect(coverage).toHaveLength(1);
      expect(coverage[0]).toMatchObject({ ok: 0, failed: 2 });
      const [reason] = Object.keys(coverage[0]!.failedByReason);
      expect(reason).toContain(plan.fingerprint);
      expect(reason).toContain(other);
      expect(published!.result.manifest.fingerprint).toBe(plan.fingerprint);
    } finally {
      await h2.close();
    }
  });

  test('baseVersion reuses only rows of the same fingerprint, unless reuse is any-code (recorded in the manifest)', async () => {
    const dataset = `zct-reuse-${process.pid}`;
    // v1: params of both architectures, made by other code (its rows and triple ids carry its fingerprint).
    const older = 'older-code';
    const rows: ResultRow[] = ARCHS.map((arch) => ({
      tripleId: tripleId({ dataset, space: 'nasbench201', task: 'cifar10', arch, proxy: 'params', seed: 0, batchSize: 64, fingerprint: older, data: 'none' }),
      space: 'nasbench201',
      task: 'cifar10',
      arch,
      proxy: 'params',
      seed: 0,
      batchSize: 64,
      status: 'ok',
      score: 1.5,
      time: 0.01,
      backend: 'wasm',
      dataSource: 'synthetic',
      dataSha256: '',
      fingerprint: older,
    }));
    await publishVersion(h.s3.store, {
      dataset,
      buildId: `${dataset}-v1`,
      rows,
      expected: [{ space: 'nasbench201', task: 'cifar10', proxy: 'params', count: 2 }],
      provenance: { fingerprint: older, dataSources: [] },
    });
    const spec = { dataset, spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params'], archs: ARCHS, baseVersion: 'v1' };

    const sameCode = h.plan(spec);
    expect(await h.produce(sameCode, await readBaseVersion(h.s3.storeOpts, dataset, 'v1'))).toMatchObject({ expected: 2, skippedBase: 0 });
    const [v2] = await h.aggregate([sameCode.buildId]);
    expect(v2!.result.manifest).toMatchObject({ version: 'v2', fingerprint: sameCode.fingerprint, reuse: 'same-code' });
    expect(v2!.result.manifest.rowFingerprints).toEqual([older, sameCode.fingerprint].sort());
    const ds2 = await openDataset(`s3://${h.s3.storeOpts.bucket}/${dataset}`, 'v2', h.s3.storeOpts);
    for (const arch of ARCHS) expect(ds2.score('nasbench201', 'cifar10', arch, 'params')).not.toBe(1.5);

    // any-code: v1's rows count as computed whatever code made them; only the new architecture is.
    const anyCode = h.plan({ ...spec, archs: [...ARCHS, '(2, 2, 2, 2, 2, 2)'], reuse: 'any-code' });
    expect(await h.produce(anyCode, await readBaseVersion(h.s3.storeOpts, dataset, 'v1'))).toMatchObject({ expected: 1, skippedBase: 2 });
    const [v3] = await h.aggregate([anyCode.buildId]);
    expect(v3!.result.manifest).toMatchObject({ parentVersion: 'v1', reuse: 'any-code', fingerprint: anyCode.fingerprint });
  });

  test('a build on real data with a synthetic base recomputes every data-dependent triple and reuses the data-free ones', async () => {
    const dataset = `zct-data-${process.pid}`;
    const file = join(dataDir, 'data_batch_1.bin');
    writeFileSync(file, cifarRecords(Array.from({ length: 20 }, (_, r) => gradientRecord(r))));
    const proxies: ProxyName[] = ['params', 'flops', 'l2_norm', 'synflow', 'zen', 'nwot', 'grad_norm'];
    const spec = { dataset, spaces: ['nasbench201'], tasks: ['cifar10'], proxies, archs: ARCHS, batchSize: { default: 8 } };
    const synthetic = h.plan(spec);
    await h.produce(synthetic);
    const [v1] = await h.aggregate([synthetic.buildId]);
    expect(v1!.result.manifest.rowCount).toBe(14);

    const real = h.plan({ ...spec, data: { source: 'path', path: file }, baseVersion: 'v1' });
    const produced = await h.produce(real, await readBaseVersion(h.s3.storeOpts, dataset, 'v1'));
    // 2 architectures × (nwot, grad_norm) recomputed; params, flops, l2_norm, synflow, zen kept.
    expect(produced).toMatchObject({ expected: 4, skippedBase: 10 });
    const [v2] = await h.aggregate([real.buildId]);
    const ds = await openDataset(`s3://${h.s3.storeOpts.bucket}/${dataset}`, 'v2', h.s3.storeOpts);
    const fileSha = createHash('sha256').update(readFileSync(file)).digest('hex');
    const byData = ds.filter({}).filter((r) => r.status === 'ok' && r.dataSource === file);
    expect(byData.map((r) => r.proxy).sort()).toEqual(['grad_norm', 'grad_norm', 'nwot', 'nwot']);
    // The synthetic rows of the same cells are superseded: the version's scores are the real data's.
    expect(ds.filter({ proxy: ['nwot', 'grad_norm'] })).toHaveLength(4);
    expect(ds.filter({ proxy: 'params' })).toHaveLength(2);
    for (const r of byData) {
      expect(ds.score('nasbench201', 'cifar10', r.arch, r.proxy)).toBe(r.score);
      expect(r.dataSha256).toBe(fileSha);
      expect(r.tripleId).toBe(
        tripleId({
          dataset,
          space: 'nasbench201',
          task: 'cifar10',
          arch: r.arch,
          proxy: r.proxy,
          seed: 0,
          batchSize: 8,
          fingerprint: real.fingerprint,
          data: tripleDataId(r.proxy, `sha256:${fileSha}`),
        }),
      );
    }
    expect(v2!.result.manifest.dataSources).toEqual(expect.arrayContaining([{ source: file, sha256: fileSha }]));
  });
});
