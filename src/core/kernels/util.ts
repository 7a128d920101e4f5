import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernels built from ops receive TensorInfos from the engine (in practice Tensors). Ops need
 * Tensors: wrap a bare TensorInfo in a tracked Tensor that the caller's tidy disposes.
 */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  return (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info)) as tf.Tensor<R>;
}

/**
 * A tape node with its own forward and backward: tfjs' engine entry behind tf.customGrad, used
 * directly because it allows several outputs, lazy per-input gradients (a backward calls only the
 * thunks of inputs it needs) and nodes with no inputs (constants of the tape). Ops run inside
 * `forwardFunc` are not recorded.
 */
export interface CustomNode {
  forwardFunc: (backend: unknown, save: tf.GradSaveFunc) => tf.Tensor | tf.Tensor[];
  backwardsFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  inputs: Record<string, tf.Tensor>;
}

export function runCustomNode(node: CustomNode): tf.Tensor[] {
  const out = (tf.engine() as unknown as { runKernelFunc(n: CustomNode): tf.Tensor | tf.Tensor[] }).runKernelFunc(node);
  return Array.isArray(out) ? out : [out];
}

/** Kernels a backend shipped that we replaced, by `${backend}/${kernel}` (benchmarks and tests compare). */
export const replacedKernels = new Map<string, tf.KernelConfig>();

/** The kernel a backend shipped before we replaced it (replacements fall back to it outside their cases). */
export function shippedKernel(backendName: string, kernelName: string): tf.KernelConfig {
  const k = replacedKernels.get(`${backendName}/${kernelName}`);
  if (!k) throw new Error(`${backendName} shipped no ${kernelName} kernel to fall back to`);
  return k;
}

/** Run wasm's registered kernel `name` on TensorInfos of `backend` (inside another wasm kernel: no engine, no tape). */
export function runWasmKernel(name: string, inputs: tf.NamedTensorInfoMap, attrs: object, backend: unknown): tf.TensorInfo {
  return tf.getKernel(name, 'wasm')!.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend: backend as tf.KernelBackend }) as tf.TensorInfo;
}

/** Register `config`, replacing a kernel the backend already has without tfjs's duplicate warning. */
export function replaceKernel(config: tf.KernelConfig): void {
  const existing = tf.getKernel(config.kernelName, config.backendName);
  if (existing != null) {
    replacedKernels.set(`${config.backendName}/${config.kernelName}`, existing);
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  // A wasm kernel's setup binds its C function when the backend starts: keep it for the shipped
  // kernel that a replacement still calls.
  tf.registerKernel(existing?.setupFunc && !config.setupFunc ? { ...config, setupFunc: existing.setupFunc } : config);
}

/** An NHWC shape or a conv filter shape [kh, kw, in, out]. */
export type Shape4 = [number, number, number, number];

export type Padding4 = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Line a 4-D NHWC tensor's height and width up with a convolution's windows: negative amounts
 * crop (a slice), positive amounts become the convolution's own explicit padding, which XNNPACK
 * applies without copying the tensor.
 */
export function windowed(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): { x: tf.Tensor4D; padding: Padding4 } {
  let out = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = x.shape;
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    out = tf.slice(x, [0, t, l, 0], [n, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c]);
  }
  const pos = (v: number) => Math.max(v, 0);
  return {
    x: out,
    padding: [
      [0, 0],
      [pos(top), pos(bottom)],
      [pos(left), pos(right)],
      [0, 0],
    ],
  };
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
