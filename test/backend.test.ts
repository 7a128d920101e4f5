import { spawn } from 'child_process';
import { join } from 'path';
import { activeBackend, availableBackends, initBackend, tf } from '../src/core/backend';
import { InputError } from '../src/errors';
import { REPO_ROOT, runCli } from './helpers/cli';

/** Run a snippet in a fresh Node process (module state and ZC_BACKEND as a user's process has them). */
function freshProcess(code: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', code], {
      cwd: REPO_ROOT,
      env: { ...process.env, ZC_BACKEND: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, stdout, stderr }));
  });
}

/** What the CLI, a compute child and the benches do: read the settings through the config loader, hand them to the core. */
const SELECT = `
const { backendSettings } = require(${JSON.stringify(join(REPO_ROOT, 'src', 'config.ts'))});
const { initBackend, activeBackend, tf } = require(${JSON.stringify(join(REPO_ROOT, 'src', 'core', 'backend.ts'))});
Promise.resolve().then(() => initBackend(backendSettings())).then(
  (name) => console.log(JSON.stringify({ name, active: activeBackend(), tfjs: tf.getBackend() })),
  (err) => { console.log(JSON.stringify({ error: err.name, field: err.field, value: err.value, message: err.message })); },
);`;

describe('backend selection in a fresh process', () => {
  test('without ZC_BACKEND the best available backend is chosen: wasm here (tfjs-node cannot install)', async () => {
    const out = await freshProcess(SELECT, {});
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ name: 'wasm', active: 'wasm', tfjs: 'wasm' });
    expect(out.stderr).toBe(''); // no tfjs banners
  });

  test.each(['cpu', 'wasm', 'hybrid'])('ZC_BACKEND=%s forces that backend', async (name) => {
    const out = await freshProcess(SELECT, { ZC_BACKEND: name });
    expect(JSON.parse(out.stdout)).toEqual({ name, active: name, tfjs: name });
  });

  test('ZC_BACKEND=node, unavailable here, is an InputError naming the field, the value and what is available', async () => {
    const out = await freshProcess(SELECT, { ZC_BACKEND: 'node' });
    const result = JSON.parse(out.stdout);
    expect(result).toMatchObject({ error: 'InputError', field: 'ZC_BACKEND', value: 'node' });
    expect(result.message).toMatch(/^invalid ZC_BACKEND: "node" \(available: wasm, hybrid, cpu; tfjs-node: .+\)$/);
  });

  test('an unknown ZC_BACKEND is an InputError listing the valid names', async () => {
    const result = JSON.parse((await freshProcess(SELECT, { ZC_BACKEND: 'gpu' })).stdout);
    expect(result).toMatchObject({ error: 'InputError', field: 'ZC_BACKEND', value: 'gpu' });
    expect(result.message).toContain('one of node, wasm, hybrid, cpu');
  });
});

describe('backend selection in this process', () => {
  test('initBackend(name) selects, is idempotent, and switches when another backend is forced', async () => {
    expect(await initBackend('cpu')).toBe('cpu');
    expect(activeBackend()).toBe('cpu');
    expect(await initBackend()).toBe('cpu');
    expect(await initBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(activeBackend()).toBe('wasm');
  });

  test('availableBackends lists what initialises here, in preference order, and keeps the active backend', async () => {
    await initBackend('cpu');
    expect(await availableBackends()).toEqual(['wasm', 'hybrid', 'cpu']);
    expect(tf.getBackend()).toBe('cpu');
  });

  test('forcing node after initialisation fails clearly and leaves the active backend in place', async () => {
    await initBackend('wasm');
    const err = await initBackend({ backend: 'node' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe('ZC_BACKEND');
    expect(tf.getBackend()).toBe('wasm');
    expect(await initBackend()).toBe('wasm');
  });

  test('the environment does not reach the core: ZC_BACKEND is read by the caller only', async () => {
    await initBackend('cpu');
    process.env.ZC_BACKEND = 'node';
    try {
      expect(await initBackend()).toBe('cpu');
    } finally {
      delete process.env.ZC_BACKEND;
    }
  });

  test('an invalid argument names the argument', async () => {
    await expect(initBackend('gpu' as never)).rejects.toThrow(new InputError('backend', 'gpu', 'one of node, wasm, hybrid, cpu'));
  });

  test('the custom kernels and gradients are registered once initialised', async () => {
    await initBackend('cpu');
    for (const name of [tf.Conv2DBackpropFilter, tf.DepthwiseConv2dNativeBackpropFilter, tf.DepthwiseConv2dNativeBackpropInput]) {
      expect(tf.getKernel(name, 'wasm')).toBeDefined();
    }
    for (const name of [tf.Conv2D, tf.Relu, tf.Conv2DBackpropFilter, tf.AvgPoolGrad, tf.MaxPoolGrad, tf.Mean, tf.Sum]) {
      expect(tf.getGradient(name)).toBeDefined();
    }
  });
});

test('the CLI reports ZC_BACKEND=node as one line with exit code 2', async () => {
  const out = await runCli(['compute', '--space', 'nasbench201', '--task', 'cifar10', '--arch', '(0, 2, 3, 2, 3, 1)', '--proxies', 'params'], {
    env: { ZC_BACKEND: 'node' },
  });
  expect(out.code).toBe(2);
  expect(out.stderr.trim().split('\n')).toHaveLength(1);
  expect(out.stderr).toMatch(/^zcbench compute: invalid ZC_BACKEND: "node" \(available: wasm, hybrid, cpu/);
});
