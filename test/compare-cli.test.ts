import { readFileSync } from 'fs';
import { mkdtemp, readFile, rm } from 'fs/promises';
import { tmpdir } from 'os';
import { join } from 'path';
import { PNG } from 'pngjs';
import { initBackend } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import type { ProxyName, TaskName } from '../src/core/names';
import { kendall } from '../src/report/stats';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3, type EmbeddedS3 } from '../src/storage/embedded';
import { publishVersion } from '../src/storage/publish';
import type { ResultRow } from '../src/storage/rows';
import { openStore } from '../src/storage/store';
import { REPO_ROOT, runCli } from './helpers/cli';
import { cliEnv } from './helpers/s3';

/**
 * `zcbench compare` of a version computed here (8 NB201 cells × 2 tasks, synthetic data) against
 * the released NAS-Bench-Suite-Zero table (test/fixtures/reference/zc_nasbench201_subset.json).
 * Every printed value is checked against the naive computation below: ranks by counting,
 * Pearson of ranks, Kendall tau-b over all O(n²) pairs.
 */
const REFERENCE = join(REPO_ROOT, 'test', 'fixtures', 'reference', 'zc_nasbench201_subset.json');
const TASKS: TaskName[] = ['cifar10', 'ImageNet16-120'];
const PROXIES: ProxyName[] = ['flops', 'params', 'l2_norm'];

function naiveRanks(v: number[]): number[] {
  return v.map((x) => 1 + v.filter((y) => y < x).length + (v.filter((y) => y === x).length - 1) / 2);
}
function naivePearson(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b) / x.length;
  const my = y.reduce((a, b) => a + b) / y.length;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  x.forEach((_, i) => {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  });
  return sxy / Math.sqrt(sxx * syy);
}
const naiveSpearman = (x: number[], y: number[]) => naivePearson(naiveRanks(x), naiveRanks(y));
function naiveKendall(x: number[], y: number[]): number {
  let c = 0,
    d = 0,
    tx = 0,
    ty = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const s = Math.sign(x[i]! - x[j]!) * Math.sign(y[i]! - y[j]!);
      if (s > 0) c++;
      else if (s < 0) d++;
      else if (x[i] === x[j] && y[i] !== y[j]) tx++;
      else if (y[i] === y[j] && x[i] !== x[j]) ty++;
    }
  }
  return (c - d) / Math.sqrt((c + d + tx) * (c + d + ty));
}

describe('kendall (tau-b)', () => {
  it('equals the O(n²) definition with ties and infinities', () => {
    let state = 7;
    const draw = () => ((state = (state * 1103515245 + 12345) % 2147483648), Math.floor((state / 2147483648) * 6));
    for (let trial = 0; trial < 20; trial++) {
      const x = Array.from({ length: 40 }, draw);
      const y = x.map((v) => (draw() < 2 ? v : draw()));
      if (trial % 2 === 0) x[3] = -Infinity;
      expect(kendall(x, y).value).toBeCloseTo(
        naiveKendall(
          x.map((v) => (v === -Infinity ? -1e9 : v)),
          y,
        ),
        12,
      );
    }
    expect(kendall([1, NaN, 3, 2], [1, 5, 2, 3])).toEqual({ value: naiveKendall([1, 3, 2], [1, 2, 3]), n: 3 });
  });
});

describe('zcbench compare (a computed version against the released NB201 table)', () => {
  let s3: EmbeddedS3;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let version: string;
  const reference = JSON.parse(readFileSync(REFERENCE, 'utf8').replace(/-Infinity/g, '-1e999')) as Record<
    string,
    Record<string, Record<string, { score: number } | number | string>>
  >;
  const archs = Object.keys(reference.cifar10!).sort().slice(0, 8);
  const computed = new Map<string, number>(); // task/proxy/arch → score

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'zc-compare-'));
    s3 = await startEmbeddedS3({ dir: join(work, 's3'), bucket: 'zccompare' });
    env = cliEnv(s3, join(work, 'home'));
    await initBackend('cpu');
    const rows: ResultRow[] = [];
    for (const task of TASKS) {
      for (const arch of archs) {
        const r = await computeProxies({ space: 'nasbench201', task, arch, proxies: PROXIES, seed: 0, batchSize: 2, data: { source: 'synthetic' } });
        for (const proxy of PROXIES) {
          const score = r.results[proxy]!.score;
          computed.set(`${task}/${proxy}/${arch}`, score);
          rows.push({
            tripleId: `${task}-${proxy}-${arch}`,
            space: 'nasbench201',
            task,
            arch,
            proxy,
            seed: 0,
            batchSize: 2,
            status: 'ok',
            score,
            time: 0,
            backend: 'cpu',
            dataSource: 'synthetic',
            dataSha256: '0'.repeat(64),
            fingerprint: 'test',
          });
        }
      }
    }
    const store = openStore({ endpoint: s3.endpoint, bucket: s3.bucket, credentials: { ...EMBEDDED_S3_CREDENTIALS } });
    const published = await publishVersion(store, {
      dataset: 'regen',
      buildId: 'compare-test',
      rows,
      expected: TASKS.flatMap((task) => PROXIES.map((proxy) => ({ space: 'nasbench201' as const, task, proxy, count: archs.length }))),
      provenance: { fingerprint: 'test', dataSources: [] },
    });
    version = published.version;
  }, 120_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** The independent expectation for one (task, proxy). */
  function expected(task: TaskName, proxy: ProxyName) {
    const a = archs.map((arch) => computed.get(`${task}/${proxy}/${arch}`)!);
    const entries = archs.map((arch) => reference[task]![arch]!);
    const b = entries.map((e) => (e[proxy] as { score: number }).score);
    const acc = entries.map((e) => e.val_accuracy as number);
    return { spearman: naiveSpearman(a, b), kendall: naiveKendall(a, b), valA: naiveSpearman(a, acc), valB: naiveSpearman(b, acc) };
  }

  it('prints the table; every value equals the naive computation', async () => {
    const res = await runCli(['compare', `regen@${version}`, REFERENCE], { env });
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe(`A = regen@${version}, B = zc_nasbench201_subset.json@local; ranks: 1 = lowest score`);
    expect(lines[1]!.split(/\s+/).slice(0, 8)).toEqual(['space', 'task', 'proxy', 'n', 'spearman', 'kendall', 'val_spearman_a', 'val_spearman_b']);
    expect(lines).toHaveLength(2 + TASKS.length * PROXIES.length);
    for (const task of TASKS) {
      for (const proxy of PROXIES) {
        const line = lines.find((l) => l.startsWith(`nasbench201  ${task.padEnd('ImageNet16-120'.length)}  ${proxy.padEnd('l2_norm'.length)}`));
        expect(line).toBeDefined();
        const [n, rho, tau, va, vb] = line!.split(/\s+/).slice(3, 8);
        const e = expected(task, proxy);
        expect({ task, proxy, n: Number(n), rho, tau, va, vb }).toEqual({
          task,
          proxy,
          n: archs.length,
          rho: e.spearman.toFixed(3),
          tau: e.kendall.toFixed(3),
          va: e.valA.toFixed(3),
          vb: e.valB.toFixed(3),
        });
      }
    }
    // params and flops are exact counts: the released ranks are reproduced exactly
    expect(expected('cifar10', 'params').spearman).toBeCloseTo(1, 12);
  }, 120_000);

  it('writes CSV (lossless numbers), markdown and a heatmap with --out', async () => {
    const out = join(work, 'out');
    const res = await runCli(['compare', `regen@${version}`, REFERENCE, '--format', 'csv', '--out', out, '--top', '3'], { env });
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await readFile(join(out, 'compare.csv'), 'utf8')).toBe(res.stdout);
    const rows = res.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    for (const r of rows) {
      const e = expected(r[1] as TaskName, r[2] as ProxyName);
      expect(Number(r[4])).toBeCloseTo(e.spearman, 12);
      expect(Number(r[5])).toBeCloseTo(e.kendall, 12);
    }
    const diffs = (await readFile(join(out, 'differences.csv'), 'utf8')).trim().split('\n');
    expect(diffs).toHaveLength(1 + 3 * rows.length);
    const png = PNG.sync.read(await readFile(join(out, 'compare.png')));
    expect(png.width).toBeGreaterThan(100);
    expect(await readFile(join(out, 'compare.svg'), 'utf8')).toContain(`Spearman between regen@${version} and zc_nasbench201_subset.json@local`);
    expect(await readFile(join(out, 'compare.md'), 'utf8')).toContain('| nasbench201 | cifar10 | flops | 8 |');
  }, 120_000);

  it('names a bad format', async () => {
    const res = await runCli(['compare', REFERENCE, REFERENCE, '--format', 'xml'], { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--format');
  });
});
