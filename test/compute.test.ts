import { computeProxies } from '../src/core/compute';
import { BUILT_IN_PROXIES, type BuiltInProxyName } from '../src/core/names';
import type { ComputeRequest } from '../src/core/types';
import { runCli } from './helpers/cli';

// Tiny batches keep these fast; the full-size runs are in `npm run bench`. The paper's 13 and the newer proxies.
const PROXIES = BUILT_IN_PROXIES;
const base: ComputeRequest = {
  space: 'nasbench201',
  task: 'cifar10',
  arch: '(0, 2, 3, 2, 3, 1)',
  proxies: [...PROXIES],
  seed: 3,
  batchSize: 4,
  data: { source: 'synthetic' },
};

describe('computeProxies', () => {
  let together: Awaited<ReturnType<typeof computeProxies>>;
  beforeAll(async () => {
    together = await computeProxies(base);
  });

  test('every proxy gives a finite score and a positive time', () => {
    for (const p of PROXIES) {
      expect(Number.isFinite(together.results[p]!.score)).toBe(true);
      expect(together.results[p]!.time).toBeGreaterThanOrEqual(0);
    }
    expect(together.data.source).toBe('synthetic');
    expect(together.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(together.results.params!.score).toBeCloseTo(0.615386, 9);
  });

  test('each proxy gives the same value computed alone as together', async () => {
    for (const p of PROXIES) {
      const alone = await computeProxies({ ...base, proxies: [p as BuiltInProxyName] });
      expect(alone.results[p]!.score).toBe(together.results[p]!.score);
    }
  });

  test('same request gives bit-identical scores; another seed gives other scores', async () => {
    const again = await computeProxies(base);
    for (const p of PROXIES) expect(again.results[p]!.score).toBe(together.results[p]!.score);
    const other = await computeProxies({ ...base, seed: 4 });
    expect(other.results.snip!.score).not.toBe(together.results.snip!.score);
    expect(other.results.params!.score).toBe(together.results.params!.score);
  });
});

describe('zcbench compute (CLI)', () => {
  test('--json prints one object with every field', async () => {
    const r = await runCli([
      'compute',
      '--space',
      'nasbench201',
      '--task',
      'cifar10',
      '--arch',
      '(0, 2, 3, 2, 3, 1)',
      '--proxies',
      'params,flops,synflow',
      '--batch-size',
      '2',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['arch', 'backend', 'batchSize', 'data', 'results', 'seed', 'space', 'task']);
    expect(out.results.flops.score).toBeCloseTo(88.307392, 9);
    expect(Object.keys(out.results)).toEqual(['flops', 'params', 'synflow']);
  });

  test.each([
    [['--arch', '(0, 2, 3)'], /invalid arch: "\(0, 2, 3\)"/],
    [['--arch', '(0, 2, 3, 2, 3, 9)'], /invalid arch: "\(0, 2, 3, 2, 3, 9\)"/],
    [['--space', 'nasbench999'], /invalid --space: "nasbench999" \(valid: nasbench101, nasbench201/],
    [['--task', 'mnist'], /invalid --task: "mnist" \(valid for nasbench201: cifar10/],
    [['--proxies', 'snip,bogus'], /invalid --proxies: "bogus" \(valid: epe_nas/],
    [['--batch-size', '0'], /invalid --batch-size: "0" \(an integer ≥ 1\)/],
    [['--batch-size', '-3'], /invalid --batch-size: "-3"/],
  ])('bad input %j: one clear line, exit code 2', async (override, message) => {
    const args: Record<string, string> = { '--space': 'nasbench201', '--task': 'cifar10', '--arch': '(0, 2, 3, 2, 3, 1)', '--proxies': 'params' };
    for (let i = 0; i < override.length; i += 2) args[override[i] as string] = override[i + 1] as string;
    const r = await runCli(['compute', ...Object.entries(args).flat()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\s+at /);
  });
});
