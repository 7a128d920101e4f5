import { tf } from '../backend';
import type { PoolSpec } from './ops';

/**
 * Average pooling that excludes padded cells from the count (PyTorch count_include_pad=False).
 * tfjs's AvgPool forward excludes them but its gradient (AvgPoolGrad, cpu and wasm) divides by the
 * full window, so gradients would disagree with the forward. Instead: zero-pad explicitly, pool with
 * no padding (forward and gradient agree), and rescale each output cell by k²/(its in-bounds count).
 */
export function avgPoolExcludePad(x: tf.Tensor, spec: PoolSpec): tf.Tensor {
  const { kernel: k, stride: s, padding: p } = spec;
  if (p === 0) return tf.avgPool(x as tf.Tensor4D, k, s, 0);
  const [, h, w] = x.shape as number[];
  return tf.tidy(() => {
    const padded = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);
    const pooled = tf.avgPool(padded as tf.Tensor4D, k, s, 'valid');
    return tf.mul(pooled, windowScale(h!, w!, spec));
  });
}

const scaleCache = new Map<string, Float32Array>();

/** k²/count per output cell, as a [1, Ho, Wo, 1] constant. */
function windowScale(h: number, w: number, { kernel: k, stride: s, padding: p }: PoolSpec): tf.Tensor {
  const ho = Math.floor((h + 2 * p - k) / s) + 1;
  const wo = Math.floor((w + 2 * p - k) / s) + 1;
  const key = `${h}x${w}/${k}/${s}/${p}`;
  let values = scaleCache.get(key);
  if (!values) {
    values = new Float32Array(ho * wo);
    const inside = (start: number, size: number) => Math.min(start + k, p + size) - Math.max(start, p);
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) values[i * wo + j] = (k * k) / (inside(i * s, h) * inside(j * s, w));
    }
    scaleCache.set(key, values);
  }
  return tf.tensor4d(values, [1, ho, wo, 1]);
}
