import { join } from 'path';
import { withProxyModules } from '../src/producer/modules';
import { planBuild } from '../src/producer/spec';
import { runCli, REPO_ROOT } from './helpers/cli';

/** User proxy modules through `zcbench compute --proxy-module` (docs/writing-a-proxy.md). */
const ARCH = '(0, 2, 3, 2, 3, 1)';
const WEIGHT_COUNT = join(REPO_ROOT, 'examples/proxies/weight-count.ts');
const THROWS = join(REPO_ROOT, 'test/fixtures/proxy-modules/throws.ts');
const IMPOSTOR = join(REPO_ROOT, 'test/fixtures/proxy-modules/weight-count-copy.ts');
const compute = (modules: string[], proxies = 'params') =>
  runCli([
    'compute',
    '--space',
    'nasbench201',
    '--task',
    'cifar10',
    '--arch',
    ARCH,
    '--proxies',
    proxies,
    '--proxy-module',
    modules.join(','),
    '--batch-size',
    '2',
    '--json',
  ]);

describe('compute --proxy-module', () => {
  it('a module counting weights gives exactly params × 1e6, with its name and sha256', async () => {
    const r = await compute([WEIGHT_COUNT]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.moduleResults.weight_count.score).toBe(Math.round(out.results.params.score * 1e6));
    expect(out.moduleResults.weight_count.score).toBe(out.results.params.score * 1e6);
    expect(out.modules).toEqual([{ name: 'weight_count', file: WEIGHT_COUNT, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
  });

  it('a module that throws fails alone, naming itself and its error; the others keep their values', async () => {
    const r = await compute([THROWS, WEIGHT_COUNT]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.moduleResults.always_throws).toEqual({ error: 'deliberate failure in always_throws' });
    expect(out.moduleResults.weight_count.score).toBe(out.results.params.score * 1e6);
    expect(out.results.params.score).toBeGreaterThan(0);
  });

  it('two different modules under one name are an error naming both files', async () => {
    const r = await compute([WEIGHT_COUNT, IMPOSTOR]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('weight_count');
    expect(r.stderr).toContain('weight-count-copy.ts');
    expect(r.stdout).toBe('');
  });
});

describe('spec proxyModules', () => {
  const plan = (proxyModules: string[], extra: Record<string, unknown> = {}) =>
    planBuild({ dataset: 'zct-modules', spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params'], archs: [ARCH], proxyModules, ...extra }, REPO_ROOT);

  it('two different modules under one name are an InputError naming the field', async () => {
    const err = await withProxyModules(plan(['examples/proxies/weight-count.ts', 'test/fixtures/proxy-modules/weight-count-copy.ts'])).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'InputError', field: 'spec proxyModules[1]' });
    expect((err as Error).message).toContain('weight_count');
  });

  it('paths are from the spec folder; each module is a column; its hash is part of the build id', async () => {
    const counted = await withProxyModules(plan(['examples/proxies/weight-count.ts']));
    expect(counted.modules).toEqual([{ name: 'weight_count', file: 'examples/proxies/weight-count.ts', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(counted.totalTriples).toBe(2);
    const impostor = await withProxyModules(plan(['test/fixtures/proxy-modules/weight-count-copy.ts']));
    expect(impostor.modules![0]!.name).toBe('weight_count');
    expect(impostor.buildId).not.toBe(counted.buildId);
    expect((await withProxyModules(plan(['examples/proxies/weight-count.ts']))).buildId).toBe(counted.buildId);
    // An id the spec fixes stays as given.
    expect((await withProxyModules(plan(['examples/proxies/weight-count.ts'], { buildId: 'fixed' }))).buildId).toBe('fixed');
  });

  it('a missing module file or an empty list is an InputError naming the field', async () => {
    await expect(withProxyModules(plan(['examples/proxies/nope.ts']))).rejects.toMatchObject({ name: 'InputError', field: 'spec proxyModules[0]' });
    expect(() => plan([])).toThrow(/spec proxyModules/);
  });
});
