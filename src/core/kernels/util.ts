import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernels built from ops receive TensorInfos from the engine (in practice Tensors). Ops need
 * Tensors: wrap a bare TensorInfo in a tracked Tensor that the caller's tidy disposes.
 */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  return (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info)) as tf.Tensor<R>;
}

/** Kernels a backend shipped that we replaced, by `${backend}/${kernel}` (benchmarks and tests compare). */
export const replacedKernels = new Map<string, tf.KernelConfig>();

/** Register `config`, replacing a kernel the backend already has without tfjs's duplicate warning. */
export function replaceKernel(config: tf.KernelConfig): void {
  const existing = tf.getKernel(config.kernelName, config.backendName);
  if (existing != null) {
    replacedKernels.set(`${config.backendName}/${config.kernelName}`, existing);
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  tf.registerKernel(config);
}

/**
 * Pad (positive) or crop (negative) a 4-D NHWC tensor's height and width, so that convolution
 * formulations can line their windows up exactly.
 */
export function padOrCrop(
  x: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
): tf.Tensor4D {
  let out = x;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    out = tf.pad(out, [
      [0, 0],
      [Math.max(top, 0), Math.max(bottom, 0)],
      [Math.max(left, 0), Math.max(right, 0)],
      [0, 0],
    ]);
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = out.shape;
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    out = tf.slice(out, [0, t, l, 0], [n, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c]);
  }
  return out;
}

/** Sum a broadcast gradient back to `shape` (the operand's shape before broadcasting). */
export function sumToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, g.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, shape);
}

/** A float32 copy of a possibly bool/int tensor, for masks in gradient formulas. */
export function asFloat(x: tf.Tensor): tf.Tensor {
  return x.dtype === 'float32' ? x : tf.cast(x, 'float32');
}

/** A float32 zero gradient shaped like `x` (piecewise-constant ops, integer inputs). */
export function zeroGrad(x: tf.Tensor): tf.Tensor {
  return tf.zeros(x.shape, 'float32');
}
