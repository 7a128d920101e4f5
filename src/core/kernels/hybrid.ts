import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { conv2dInputGrad, type ConvParams } from './conv2d';
import { depthwiseFilterGrad, depthwiseInputGrad } from './depthwise';
import { asTensor, type Shape4 } from './util';

/**
 * The 'hybrid' backend: tfjs's cpu backend (tensors in the JS heap, so no 4 GiB ceiling) whose
 * convolutions run on the wasm backend's XNNPACK kernels, a slice of the batch at a time. For jobs
 * beyond wasm's address space (grasp on the Taskonomy networks at batch 32) it runs the convolutions,
 * nearly all of the arithmetic, at wasm speed instead of the pure-JS cpu kernels' ~1/20 of it.
 * Convolution gradients are convolutions too (conv2d.ts, depthwise.ts), so they offload as well.
 */
export const HYBRID_BACKEND = 'hybrid';

/** Bytes of one offloaded slice (input + output): well inside wasm's heap, large enough to keep XNNPACK busy. */
let sliceBytes = 256 * 2 ** 20;

/** Tests shrink the slice to exercise the multi-slice path on tiny tensors. */
export function setHybridSliceBytes(bytes: number): void {
  sliceBytes = bytes;
}

interface WasmBackendLike extends tf.KernelBackend {
  write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId;
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Run the wasm kernel `kernelName` (inputs x [N, …] and filter) on the cpu-backend tensors, slicing
 * x along its first axis: each slice is copied into wasm's heap, convolved there, copied back.
 */
function offloaded(kernelName: string): tf.KernelConfig {
  return {
    kernelName,
    backendName: HYBRID_BACKEND,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const cpu = backend as MathBackendCPU;
      const wasm = tf.findBackend('wasm') as WasmBackendLike | null;
      const kernel = tf.getKernel(kernelName, 'wasm');
      if (!wasm || !kernel) throw new Error(`the hybrid backend needs an initialised wasm backend with ${kernelName}`);
      const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
      const xValues = cpu.readSync(x.dataId) as Float32Array;
      const [n, ...item] = x.shape;
      const itemIn = size(item);
      const filterId = wasm.write(cpu.readSync(filter.dataId), filter.shape, 'float32');
      let out: Float32Array | null = null;
      let outShape: number[] = [];
      let itemOut = itemIn;
      try {
        for (let start = 0; start < n!; ) {
          const count = Math.max(1, Math.min(n! - start, Math.floor(sliceBytes / (4 * (itemIn + itemOut)))));
          const sliceShape = [count, ...item];
          const xId = wasm.write(xValues.subarray(start * itemIn, (start + count) * itemIn), sliceShape, 'float32');
          let result: tf.TensorInfo | null = null;
          try {
            result = kernel.kernelFunc({
              inputs: { x: { dataId: xId, shape: sliceShape, dtype: 'float32' }, filter: { dataId: filterId, shape: filter.shape, dtype: 'float32' } },
              backend: wasm,
              attrs,
            }) as tf.TensorInfo;
            if (!out) {
              itemOut = size(result.shape.slice(1));
              outShape = [n!, ...result.shape.slice(1)];
              out = new Float32Array(n! * itemOut);
            }
            out.set(wasm.readSync(result.dataId) as Float32Array, start * itemOut);
          } finally {
            wasm.disposeData(xId, true);
            if (result) wasm.disposeData(result.dataId, true);
          }
          start += count;
        }
      } finally {
        wasm.disposeData(filterId, true);
      }
      return cpu.makeTensorInfo(outShape, 'float32', out!);
    },
  };
}

type Attrs = ConvParams & { dataFormat?: 'NHWC' | 'NCHW'; inputShape: Shape4; filterShape: Shape4 };

/** Gradients built from forward convolutions (which offload): the same code wasm runs. */
const opBuilt: tf.KernelConfig[] = [
  {
    kernelName: tf.Conv2DBackpropInput,
    backendName: HYBRID_BACKEND,
    kernelFunc: ({ inputs, attrs }) => {
      const a = attrs as unknown as Attrs;
      return tf.tidy(() => conv2dInputGrad(asTensor(inputs.dy!), asTensor(inputs.filter!), a.inputShape, a));
    },
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropInput,
    backendName: HYBRID_BACKEND,
    kernelFunc: ({ inputs, attrs }) => {
      const a = attrs as unknown as Attrs;
      return tf.tidy(() => depthwiseInputGrad(asTensor(inputs.dy!), asTensor(inputs.filter!), a.inputShape, a));
    },
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
    backendName: HYBRID_BACKEND,
    kernelFunc: ({ inputs, attrs }) => {
      const a = attrs as unknown as Attrs;
      return tf.tidy(() => depthwiseFilterGrad(asTensor(inputs.x!), asTensor(inputs.dy!), a.filterShape, a));
    },
  },
];

let registered = false;

/**
 * Register the hybrid backend: every cpu kernel (ours included: register after the custom kernels),
 * with the convolutions replaced. Its factory needs wasm initialised first (backend.ts does that).
 */
export function registerHybridBackend(): void {
  if (registered) return;
  registered = true;
  // Negative priority: never picked by tfjs on its own.
  tf.registerBackend(HYBRID_BACKEND, () => new MathBackendCPU(), -1);
  for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: HYBRID_BACKEND });
  for (const k of [offloaded(tf.Conv2D), offloaded(tf.DepthwiseConv2dNative), ...opBuilt]) {
    tf.unregisterKernel(k.kernelName, HYBRID_BACKEND);
    tf.registerKernel(k);
  }
}
