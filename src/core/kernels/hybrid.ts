import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { conv2dInputGrad, type ConvParams } from './conv2d';
import { keptFlip } from './filter-flips';
import { depthwiseFilterGrad, depthwiseInputGrad } from './depthwise';
import { availableParallelism } from 'os';
import { InputError } from '../../errors';
import { convThreads, splitBatch } from './conv-threads';
import { asTensor, type Shape4 } from './util';
import { convolveInSlices, type WasmBackendLike } from './wasm-slices';

/**
 * The 'hybrid' backend: tfjs's cpu backend (tensors in the JS heap, so no 4 GiB ceiling) whose
 * convolutions run on the wasm backend's XNNPACK kernels, a slice of the batch at a time, the batch
 * split between the threads initBackend was given (ZC_HYBRID_THREADS; default: every core) with a wasm backend each. For jobs
 * beyond wasm's address space (grasp on the Taskonomy networks at batch 32) it runs the convolutions,
 * nearly all of the arithmetic, at wasm speed instead of the pure-JS cpu kernels' ~1/20 of it.
 * Convolution gradients are convolutions too (conv2d.ts, depthwise.ts), so they offload as well.
 * The elementwise, reduction and layout kernels the networks run most also go to wasm, whole
 * (copying in and out costs less than tfjs-cpu's generic broadcasting and reduction loops), unless
 * their operands are too big for its heap: then the cpu kernel runs.
 */
export const HYBRID_BACKEND = 'hybrid';

/** Bytes of one offloaded slice (input + output): well inside wasm's heap, large enough to keep XNNPACK busy. */
let sliceBytes = 256 * 2 ** 20;

/** Tests shrink the slice to exercise the multi-slice path on tiny tensors. */
export function setHybridSliceBytes(bytes: number): void {
  sliceBytes = bytes;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

let threadCount: number | null = null;

/** Below this many multiply-adds a convolution stays on the main thread (handing parts out costs ~0.1 ms). */
let minParallelMacs = 50e6;

/**
 * Threads a convolution may use (the main one included), and the work above which it does; tests
 * and benchmarks set them.
 */
export function setHybridThreads(count: number, options: { minParallelMacs?: number } = {}): void {
  if (!Number.isInteger(count) || count < 1) throw new InputError('hybrid threads', String(count), 'a positive integer');
  threadCount = count;
  if (options.minParallelMacs !== undefined) minParallelMacs = options.minParallelMacs;
}

/** Threads set by setHybridThreads (initBackend's `threads`); unset: every core of the machine. */
function hybridThreads(): number {
  return threadCount ?? availableParallelism();
}

/**
 * Run the wasm kernel `kernelName` (inputs x [N, …] and filter) on the cpu-backend tensors: x is
 * split along its first axis between the main thread and the convolution threads (conv-threads.ts),
 * and each convolves its part on wasm a slice at a time (wasm-slices.ts). Items are independent, so
 * the result does not depend on the split.
 */
function offloaded(kernelName: string): tf.KernelConfig {
  return {
    kernelName,
    backendName: HYBRID_BACKEND,
    kernelFunc: ({ inputs, attrs = {}, backend }) => {
      const cpu = backend as MathBackendCPU;
      const wasm = tf.findBackend('wasm') as WasmBackendLike | null;
      const kernel = tf.getKernel(kernelName, 'wasm');
      if (!wasm || !kernel) throw new Error(`the hybrid backend needs an initialised wasm backend with ${kernelName}`);
      const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
      const a = attrs as unknown as ConvParams;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as Shape4,
        filter.shape as Shape4,
        a.strides,
        a.dilations ?? 1,
        a.pad,
        a.dimRoundingMode,
        kernelName === tf.DepthwiseConv2dNative,
        'channelsLast',
      );
      const [n, ...itemShape] = x.shape as Shape4;
      const itemIn = size(itemShape);
      const itemOut = size(info.outShape.slice(1));
      const xValues = cpu.readSync(x.dataId) as Float32Array;
      const filterValues = cpu.readSync(filter.dataId) as Float32Array;
      const out = new Float32Array(n * itemOut);
      const macsPerOutput = info.filterHeight * info.filterWidth * (kernelName === tf.DepthwiseConv2dNative ? 1 : info.inChannels);
      const parallel = n * itemOut * macsPerOutput >= minParallelMacs ? hybridThreads() : 1;
      const [[, mainCount], ...parts] = splitBatch(n, parallel);
      const helpers = convThreads(parts.length);
      let started = 0;
      const errors: unknown[] = [];
      try {
        for (const [start, count] of parts) {
          helpers[started]!.start({
            kernelName,
            attrs,
            itemShape,
            itemIn,
            itemOut,
            count,
            filterShape: filter.shape,
            sliceBytes,
            x: xValues.subarray(start * itemIn, (start + count) * itemIn),
            filter: filterValues,
          });
          started++;
        }
        const slices = { wasm, kernel, attrs, itemIn, itemShape, filter: filterValues, filterShape: filter.shape, itemOut, sliceBytes };
        convolveInSlices({ ...slices, x: xValues.subarray(0, mainCount! * itemIn), out: out.subarray(0, mainCount! * itemOut) });
      } finally {
        // Every part handed out is collected, even when another failed: a thread holds one at a time.
        parts.slice(0, started).forEach(([start, count], i) => {
          try {
            helpers[i]!.finish(out.subarray(start * itemOut, (start + count) * itemOut));
          } catch (err) {
            errors.push(err);
          }
        });
      }
      // Thrown after the finally block, which would otherwise replace an error already in flight.
      if (errors.length) throw errors[0];
      return cpu.makeTensorInfo(info.outShape, 'float32', out);
    },
  };
}

/** Operand bytes above which a whole-tensor kernel stays on cpu (wasm's heap also holds other jobs' slices). */
const WHOLE_LIMIT_BYTES = 1024 * 2 ** 20;

/**
 * Native wasm kernels (not ones we rebuilt from ops, which would run on the active backend) that are
 * worth a copy in and out. Kernels that only relabel data (Reshape, Identity, ExpandDims) stay on cpu.
 */
const WHOLE_KERNELS = [
  tf.Add,
  tf.AddN,
  tf.Sub,
  tf.Multiply,
  tf.RealDiv,
  tf.SquaredDifference,
  tf.Maximum,
  tf.Minimum,
  tf.Mean,
  tf.Sum,
  tf.Max,
  tf.Transpose,
  tf.Reverse,
  tf.Tile,
  tf.SplitV,
  tf.Slice,
  tf.PadV2,
  tf.Concat,
  tf.Relu,
  tf.LeakyRelu,
  tf.Rsqrt,
  tf.Sqrt,
  tf.Square,
  tf.Neg,
  tf.Exp,
  tf.Log,
  tf.Abs,
  tf.Tanh,
  tf.Select,
  tf.Greater,
  tf.GreaterEqual,
  tf.Less,
  tf.Equal,
  tf.Cast,
  tf.BatchMatMul,
  tf.GatherV2,
  tf.StridedSlice,
  tf.Pack,
  tf.Step,
  tf.Sign,
  tf.ZerosLike,
  tf.OnesLike,
];

const BYTES: Partial<Record<tf.DataType, number>> = { float32: 4, int32: 4, bool: 1 };

function wholeOnWasm(kernelName: string, cpuKernel: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName,
    backendName: HYBRID_BACKEND,
    kernelFunc: (args) => {
      const cpu = args.backend as MathBackendCPU;
      const wasm = tf.findBackend('wasm') as WasmBackendLike | null;
      const kernel = tf.getKernel(kernelName, 'wasm');
      const inputs = Object.entries(args.inputs) as [string, tf.TensorInfo][];
      let bytes = 0;
      for (const [, t] of inputs) bytes += size(t.shape) * (BYTES[t.dtype] ?? Infinity);
      if (!wasm || !kernel || bytes > WHOLE_LIMIT_BYTES) return cpuKernel.kernelFunc(args);
      const moved = new Map<tf.DataId, tf.DataId>();
      // AddN and Concat take an array of inputs, the others a record: keep the caller's form.
      const wasmInputs: Record<string, tf.TensorInfo> = Array.isArray(args.inputs) ? ([] as unknown as Record<string, tf.TensorInfo>) : {};
      try {
        for (const [name, t] of inputs) {
          let id = moved.get(t.dataId);
          if (!id) moved.set(t.dataId, (id = wasm.write(cpu.readSync(t.dataId), t.shape, t.dtype)));
          wasmInputs[name as unknown as number] = { dataId: id, shape: t.shape, dtype: t.dtype };
        }
        const result = kernel.kernelFunc({ inputs: wasmInputs, attrs: args.attrs, backend: wasm }) as tf.TensorInfo | tf.TensorInfo[];
        const outs = Array.isArray(result) ? result : [result];
        // Read every output before freeing anything: an output may share an input's data.
        const copies = outs.map((o) => cpu.makeTensorInfo(o.shape, o.dtype, wasm.readSync(o.dataId)));
        for (const o of outs) if (![...moved.values()].includes(o.dataId)) wasm.disposeData(o.dataId, true);
        return Array.isArray(result) ? copies : copies[0]!;
      } finally {
        for (const id of moved.values()) wasm.disposeData(id, true);
      }
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
      return tf.tidy(() => conv2dInputGrad(asTensor(inputs.dy!), asTensor(inputs.filter!), a.inputShape, a, keptFlip));
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
  const whole = WHOLE_KERNELS.filter((name) => tf.getKernel(name, 'cpu') != null).map((name) => wholeOnWasm(name, tf.getKernel(name, 'cpu')!));
  for (const k of [offloaded(tf.Conv2D), offloaded(tf.DepthwiseConv2dNative), ...opBuilt, ...whole]) {
    tf.unregisterKernel(k.kernelName, HYBRID_BACKEND);
    tf.registerKernel(k);
  }
}
