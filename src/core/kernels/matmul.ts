import * as tf from '@tensorflow/tfjs-core';
import { sumToShape } from './util';

/** Gradient of BatchMatMul (see elementwise.ts for why ours); broadcast batch dims are summed back. */

type T = tf.Tensor;

export const matmulGradients: tf.GradConfig[] = [
  {
    kernelName: tf.BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [T, T];
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      const g = dy as T;
      // C = op(A)·op(B): ∂A = dC·op(B)ᵀ (transposed back if A was), ∂B = op(A)ᵀ·dC (likewise).
      const da = () => (transposeA ? tf.matMul(b, g, transposeB, true) : tf.matMul(g, b, false, !transposeB));
      const db = () => (transposeB ? tf.matMul(g, a, true, transposeA) : tf.matMul(a, g, !transposeA, false));
      return { a: () => sumToShape(da(), a.shape), b: () => sumToShape(db(), b.shape) };
    },
  },
];
