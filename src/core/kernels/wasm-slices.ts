import type * as tf from '@tensorflow/tfjs-core';

/**
 * The batch-slice loop of the hybrid backend's convolutions, shared by the main thread and the
 * convolution threads (conv-thread.ts): it imports nothing but types, so a thread loads no more
 * than tfjs-core and the wasm backend.
 */

export interface WasmBackendLike extends tf.KernelBackend {
  write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId;
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

export interface SlicedConvolution {
  /** The wasm backend and its (stock) kernel: Conv2D or DepthwiseConv2dNative. */
  wasm: WasmBackendLike;
  kernel: tf.KernelConfig;
  attrs: tf.NamedAttrMap;
  /** x's values [n, …item] (n = x.length / itemIn) and the filter's. */
  x: Float32Array;
  itemIn: number;
  itemShape: number[];
  filter: Float32Array;
  filterShape: number[];
  /** Where item i's output goes: out[(i · itemOut)…]. */
  out: Float32Array;
  itemOut: number;
  /** Bytes of one slice (input + output) in wasm's heap. */
  sliceBytes: number;
}

/** Convolve x on wasm a slice of items at a time: each slice is copied in, convolved, copied out. */
export function convolveInSlices(c: SlicedConvolution): void {
  const n = c.x.length / c.itemIn;
  const filterId = c.wasm.write(c.filter, c.filterShape, 'float32');
  try {
    for (let start = 0; start < n;) {
      const count = Math.max(1, Math.min(n - start, Math.floor(c.sliceBytes / (4 * (c.itemIn + c.itemOut)))));
      const sliceShape = [count, ...c.itemShape];
      const xId = c.wasm.write(c.x.subarray(start * c.itemIn, (start + count) * c.itemIn), sliceShape, 'float32');
      let result: tf.TensorInfo | null = null;
      try {
        result = c.kernel.kernelFunc({
          inputs: { x: { dataId: xId, shape: sliceShape, dtype: 'float32' }, filter: { dataId: filterId, shape: c.filterShape, dtype: 'float32' } },
          backend: c.wasm,
          attrs: c.attrs,
        }) as tf.TensorInfo;
        c.out.set(c.wasm.readSync(result.dataId) as Float32Array, start * c.itemOut);
      } finally {
        c.wasm.disposeData(xId, true);
        if (result) c.wasm.disposeData(result.dataId, true);
      }
      start += count;
    }
  } finally {
    c.wasm.disposeData(filterId, true);
  }
}
