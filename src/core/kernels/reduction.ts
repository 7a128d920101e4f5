import * as tf from '@tensorflow/tfjs-core';
import { asFloat, runWasmKernel, shippedKernel, zeroGrad } from './util';

/** Gradients of reductions and of softmax / log-softmax (see elementwise.ts for why ours). */

type T = tf.Tensor;

/**
 * dy (reduced over `axes`) reshaped with kept dims and broadcast back to `shape`, times `scale`.
 * A broadcasting multiply, not tf.broadcastTo: wasm's Tile kernel is element by element and took a
 * third of a batch-norm network's backward.
 */
function expandReduced(dy: T, shape: number[], axes: number[], scale = 1): T {
  const kept = shape.slice();
  for (const a of axes) kept[a] = 1;
  return tf.mul(tf.fill(shape, scale), tf.reshape(dy, kept));
}

/**
 * Max/Min: dy goes to every element equal to the extreme (tfjs' convention for ties). The saved
 * output only feeds a piecewise-constant mask, so its missing tape link (elementwise.ts) is harmless.
 */
function extremeGrad(kernelName: string, axisAttr: 'reductionIndices' | 'axis'): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved as [T, T];
      const axes = tf.util.parseAxisParam((attrs as Record<string, number | number[]>)[axisAttr]!, x.shape);
      const kept = x.shape.slice();
      for (const a of axes) kept[a] = 1;
      return { x: () => tf.mul(expandReduced(dy as T, x.shape, axes), asFloat(tf.equal(x, tf.reshape(y, kept)))) };
    },
  };
}

export const reductionGradients: tf.GradConfig[] = [
  {
    kernelName: tf.Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const axes = tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape);
      return { x: () => expandReduced(dy as T, x.shape, axes) };
    },
  },
  {
    kernelName: tf.Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const axes = tf.util.parseAxisParam((attrs as unknown as tf.MeanAttrs).axis, x.shape);
      const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
      return { x: () => expandReduced(dy as T, x.shape, axes, 1 / count) };
    },
  },
  extremeGrad(tf.Max, 'reductionIndices'),
  extremeGrad(tf.Min, 'axis'),
  { kernelName: tf.ArgMax, inputsToSave: ['x'], gradFunc: (_dy, saved) => ({ x: () => zeroGrad(saved[0]!) }) },
  { kernelName: tf.ArgMin, inputsToSave: ['x'], gradFunc: (_dy, saved) => ({ x: () => zeroGrad(saved[0]!) }) },
  // Softmax recomputed from the logits, not read from the saved output (see elementwise.ts).
  {
    kernelName: tf.Softmax,
    inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => {
      const dim = (attrs as unknown as tf.SoftmaxAttrs).dim;
      return {
        logits: () => {
          const y = tf.softmax(saved[0]!, dim);
          const dyTimesY = tf.mul(dy as T, y);
          return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, dim, true), y));
        },
      };
    },
  },
  {
    kernelName: tf.LogSoftmax,
    inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => {
      const axis = (attrs as unknown as tf.LogSoftmaxAttrs).axis;
      return { logits: () => tf.sub(dy as T, tf.mul(tf.sum(dy as T, axis, true), tf.softmax(saved[0]!, axis))) };
    },
  },
];

/**
 * wasm's Sum and Mean reduce only innermost axes: any other reduction first transposes the whole
 * input. The NHWC reductions our networks run most (a batch norm's per-sample spatial means, the sum
 * of a broadcast gradient back to [C] over N, H, W) are instead an average pooling over H×W, which
 * XNNPACK runs in place on NHWC (~4× faster), followed for N by the shipped kernel on the small
 * [N, C] result: the sums are per sample, then over the batch, as our batch norm already orders them.
 * (A matrix product with a row of ones would pack the whole input as weights on every call.)
 */
function reduceSpatially(kernelName: typeof tf.Sum | typeof tf.Mean): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const shipped = shippedKernel('wasm', kernelName);
      const x = args.inputs.x as tf.TensorInfo;
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
      const key = axes.join(',');
      if (x.dtype !== 'float32' || x.shape.length !== 4 || (key !== '1,2' && key !== '0,1,2')) return shipped.kernelFunc(args);
      const [n, h, w, c] = x.shape as [number, number, number, number];
      const backend = args.backend as tf.KernelBackend & { disposeData(id: tf.DataId): void };
      const run = (name: string, inputs: tf.NamedTensorInfoMap, attrs: object) => runWasmKernel(name, inputs, attrs, backend);
      // Intermediates (never the result) to free.
      const garbage: tf.TensorInfo[] = [];
      try {
        // Per-sample spatial means [N, 1, 1, C], viewed as [N, C].
        const pooled = run(tf.AvgPool, { x }, { filterSize: [h, w], strides: [h, w], pad: 'valid' });
        let out: tf.TensorInfo = { ...pooled, shape: [n, c] };
        if (key === '0,1,2') {
          garbage.push(out);
          out = shipped.kernelFunc({ ...args, inputs: { x: out }, attrs: { axis: [0], keepDims: false } }) as tf.TensorInfo;
        }
        if (kernelName === tf.Sum) {
          const count = run(tf.Fill, {}, { shape: [], value: h * w, dtype: 'float32' });
          garbage.push(count, out);
          out = run(tf.Multiply, { a: out, b: count }, {});
        }
        return { ...out, shape: keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i)) };
      } finally {
        for (const t of garbage) backend.disposeData(t.dataId);
      }
    },
  };
}

export const reductionKernels: tf.KernelConfig[] = [reduceSpatially(tf.Sum), reduceSpatially(tf.Mean)];
