import { tf } from '../backend';
import type { PoolSpec } from './ops';

/**
 * Average pooling that excludes padded cells from the count (PyTorch count_include_pad=False), which
 * is what tfjs's AvgPool computes on every backend. Its stock gradient (AvgPoolGrad) divides by the
 * full window instead; ours (kernels/pooling.ts) rescales dy by window/valid cells first, so forward
 * and gradient agree at the borders (tested against finite differences).
 */
export function avgPoolExcludePad(x: tf.Tensor, spec: PoolSpec): tf.Tensor {
  return tf.avgPool(x as tf.Tensor4D, spec.kernel, spec.stride, spec.padding);
}
