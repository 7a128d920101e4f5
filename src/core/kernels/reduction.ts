import * as tf from '@tensorflow/tfjs-core';
import { asFloat, zeroGrad } from './util';

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
