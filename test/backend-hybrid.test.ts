import { initBackend, tf } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import { ConvThread, convThreads, splitBatch, stopConvThreads } from '../src/core/kernels/conv-threads';
import { setHybridSliceBytes, setHybridThreads } from '../src/core/kernels/hybrid';
import { backendSettings } from '../src/config';
import type { ProxyName } from '../src/core/names';
import { join } from 'path';

/**
 * The hybrid backend (cpu tensors, wasm convolutions in batch slices) must compute what cpu does.
 * Slices are shrunk to a few kilobytes so that every convolution here runs in several of them.
 */
function convCase(depthwise: boolean, stride: number, dilation: number) {
  return () => {
    const x = tf.randomNormal([5, 9, 9, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
    const w = tf.randomNormal(depthwise ? [3, 3, 4, 1] : [3, 3, 4, 6], 0, 1, 'float32', 8) as tf.Tensor4D;
    const f = (a: tf.Tensor4D, k: tf.Tensor4D) =>
      depthwise ? tf.depthwiseConv2d(a, k, stride, 'same', 'NHWC', dilation) : tf.conv2d(a, k, stride, 'same', 'NHWC', dilation);
    const y = f(x, w);
    const [dx, dw] = tf.grads((a: tf.Tensor, k: tf.Tensor) => tf.sum(tf.square(f(a as tf.Tensor4D, k as tf.Tensor4D))))([x, w]);
    return [y, dx!, dw!].map((t) => Array.from(t.dataSync()));
  };
}

describe('hybrid backend', () => {
  afterAll(async () => {
    setHybridSliceBytes(256 * 2 ** 20);
    await initBackend('wasm');
  });

  test.each([
    ['conv2d', false, 1, 1],
    ['conv2d stride 2', false, 2, 1],
    ['depthwise', true, 1, 1],
    ['depthwise dilation 2', true, 1, 2],
  ])('%s and its gradients equal cpu, sliced across the batch', async (_label, depthwise, stride, dilation) => {
    await initBackend('cpu');
    const expected = tf.tidy(convCase(depthwise as boolean, stride as number, dilation as number));
    await initBackend('hybrid');
    setHybridSliceBytes(4096); // 9·9·4 floats per sample in: one or two samples a slice
    const before = tf.memory().numTensors;
    const actual = tf.tidy(convCase(depthwise as boolean, stride as number, dilation as number));
    expect(tf.memory().numTensors).toBe(before);
    actual.forEach((values, i) => {
      expect(values.length).toBe(expected[i]!.length);
      values.forEach((v, j) => expect(Math.abs(v - expected[i]![j]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(expected[i]![j]!))));
    });
  });

  test('a compute request on hybrid reports it and agrees with cpu', async () => {
    const proxies: ProxyName[] = ['grad_norm', 'snip', 'grasp', 'jacov', 'nwot', 'synflow'];
    const req = {
      space: 'nasbench201' as const,
      task: 'ImageNet16-120' as const,
      arch: '(0, 2, 3, 2, 4, 1)',
      proxies,
      seed: 2,
      batchSize: 2,
      data: { source: 'synthetic' as const },
    };
    await initBackend('cpu');
    const cpu = await computeProxies(req);
    await initBackend('hybrid');
    setHybridSliceBytes(64 * 1024);
    const hybrid = await computeProxies(req);
    expect(hybrid.backend).toBe('hybrid');
    for (const p of proxies) {
      const a = cpu.results[p]!.score;
      expect(Math.abs(hybrid.results[p]!.score - a)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(a)));
    }
  });
});

describe('hybrid convolution threads', () => {
  afterAll(async () => {
    setHybridThreads(1, { minParallelMacs: 50e6 });
    await stopConvThreads();
    setHybridSliceBytes(256 * 2 ** 20);
    await initBackend('wasm');
  });

  test('ZC_HYBRID_THREADS: a positive integer, unset (every core) when empty or absent, a clear error otherwise', () => {
    expect(backendSettings({ ZC_HYBRID_THREADS: '3' }).threads).toBe(3);
    expect(backendSettings({}).threads).toBeUndefined();
    expect(backendSettings({ ZC_HYBRID_THREADS: '' }).threads).toBeUndefined();
    expect(() => backendSettings({ ZC_HYBRID_THREADS: '0' })).toThrow(/ZC_HYBRID_THREADS.*"0"|ZC_HYBRID_THREADS.*0/);
    expect(() => backendSettings({ ZC_HYBRID_THREADS: 'two' })).toThrow(/ZC_HYBRID_THREADS/);
  });

  test('initBackend({ threads }) is validated', async () => {
    await expect(initBackend({ backend: 'hybrid', threads: 0 })).rejects.toThrow(/threads.*0/);
  });

  test('splitBatch covers the batch in contiguous, even runs', () => {
    expect(splitBatch(7, 3)).toEqual([
      [0, 2],
      [2, 2],
      [4, 3],
    ]);
    expect(splitBatch(2, 4)).toEqual([
      [0, 1],
      [1, 1],
    ]);
    expect(splitBatch(1, 2)).toEqual([[0, 1]]);
  });

  test.each([
    ['conv2d', false, 1, 1],
    ['conv2d stride 2', false, 2, 1],
    ['depthwise dilation 2', true, 1, 2],
  ])('%s and its gradients split across 3 threads equal one thread exactly', async (_label, depthwise, stride, dilation) => {
    await initBackend('hybrid');
    setHybridSliceBytes(4096);
    setHybridThreads(1);
    const one = tf.tidy(convCase(depthwise as boolean, stride as number, dilation as number));
    setHybridThreads(3, { minParallelMacs: 0 });
    const before = tf.memory().numTensors;
    const three = tf.tidy(convCase(depthwise as boolean, stride as number, dilation as number));
    expect(tf.memory().numTensors).toBe(before);
    three.forEach((values, i) => expect(values).toEqual(one[i]));
  });

  test('a compute request gives the same scores on 1 and 2 threads', async () => {
    const proxies: ProxyName[] = ['grad_norm', 'grasp', 'jacov', 'synflow'];
    const req = {
      space: 'nasbench201' as const,
      task: 'ImageNet16-120' as const,
      arch: '(1, 2, 3, 2, 4, 1)',
      proxies,
      seed: 1,
      batchSize: 3,
      data: { source: 'synthetic' as const },
    };
    await initBackend('hybrid');
    setHybridSliceBytes(64 * 1024);
    setHybridThreads(1);
    const one = await computeProxies(req);
    setHybridThreads(2, { minParallelMacs: 0 });
    const two = await computeProxies(req);
    for (const p of proxies) expect(two.results[p]!.score).toBe(one.results[p]!.score);
  });

  test('a thread whose module cannot load is an error, not a wait', () => {
    expect(() => new ConvThread('/nonexistent/conv-thread.js')).toThrow(
      /convolution thread failed \(start\): Cannot find module '\/nonexistent\/conv-thread.js'/,
    );
  });

  test('a part that never finishes is an error after the wait bound, not a wait forever', async () => {
    const thread = new ConvThread(join(__dirname, 'fixtures', 'faults', 'conv-thread-hangs.js'), { partTimeoutMs: 300 });
    const part = { attrs: {}, itemShape: [1], itemIn: 1, itemOut: 1, count: 1, filterShape: [1], sliceBytes: 4096, kernelName: tf.Conv2D };
    thread.start({ ...part, x: new Float32Array(1), filter: new Float32Array(1) });
    expect(() => thread.finish(new Float32Array(1))).toThrow('convolution thread failed (Conv2D): no answer within 0.3 s');
    expect(thread.stopped).toBe(true);
    await thread.terminate();
  });

  test('a failing part is reported with its cause, and the thread keeps working', () => {
    const [thread] = convThreads(1);
    const part = {
      attrs: { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 },
      itemShape: [3, 3, 1],
      itemIn: 9,
      itemOut: 1,
      count: 2,
      filterShape: [3, 3, 1, 1],
      sliceBytes: 4096,
    };
    const x = new Float32Array(18).fill(1);
    const filter = new Float32Array(9).fill(2);
    thread!.start({ ...part, kernelName: 'NoSuchKernel', x, filter });
    expect(() => thread!.finish(new Float32Array(2))).toThrow('convolution thread failed (NoSuchKernel): wasm has no NoSuchKernel kernel');
    const out = new Float32Array(2);
    thread!.start({ ...part, kernelName: tf.Conv2D, x, filter });
    thread!.finish(out);
    expect(Array.from(out)).toEqual([18, 18]);
  });
});
