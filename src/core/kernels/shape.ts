import * as tf from '@tensorflow/tfjs-core';
import { shippedKernel, sumToShape, zeroGrad } from './util';

/** Gradients of shape and data-movement kernels (see elementwise.ts for why ours). */

type T = tf.Tensor;

export const shapeGradients: tf.GradConfig[] = [
  { kernelName: tf.Reshape, inputsToSave: ['x'], gradFunc: (dy, saved) => ({ x: () => tf.reshape(dy as T, saved[0]!.shape) }) },
  {
    kernelName: tf.ExpandDims,
    inputsToSave: ['input'],
    gradFunc: (dy, saved) => ({ input: () => tf.reshape(dy as T, saved[0]!.shape) }),
  },
  {
    kernelName: tf.Transpose,
    gradFunc: (dy, _saved, attrs) => {
      const perm = (attrs as unknown as tf.TransposeAttrs).perm;
      return { x: () => tf.transpose(dy as T, tf.backend_util.getUndoAxesPermutation(perm)) };
    },
  },
  {
    kernelName: tf.Slice,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const { begin, size } = attrs as unknown as tf.SliceAttrs;
      const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
      return {
        x: () =>
          tf.pad(
            dy as T,
            x.shape.map((n, i) => [b[i]!, n - b[i]! - s[i]!] as [number, number]),
          ),
      };
    },
  },
  {
    kernelName: tf.PadV2,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const { paddings } = attrs as unknown as tf.PadV2Attrs;
      return {
        x: () =>
          tf.slice(
            dy as T,
            paddings.map((p) => p[0]),
            x.shape,
          ),
      };
    },
  },
  {
    kernelName: tf.Reverse,
    gradFunc: (dy, _saved, attrs) => ({ x: () => tf.reverse(dy as T, (attrs as unknown as tf.ReverseAttrs).dims) }),
  },
  {
    kernelName: tf.Concat,
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = tf.util.parseAxisParam((attrs as unknown as tf.ConcatAttrs).axis, saved[0]!.shape)[0]!;
      const parts = tf.split(
        dy as T,
        saved.map((t) => t.shape[axis]!),
        axis,
      );
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  {
    kernelName: tf.SplitV,
    gradFunc: (dys, _saved, attrs) => ({ x: () => tf.concat(dys as T[], (attrs as unknown as tf.SplitVAttrs).axis) }),
  },
  {
    kernelName: tf.Pack,
    saveAllInputs: true,
    gradFunc: (dy, _saved, attrs) => {
      const parts = tf.unstack(dy as T, (attrs as unknown as tf.PackAttrs).axis);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  {
    kernelName: tf.Unpack,
    gradFunc: (dys, _saved, attrs) => ({ value: () => tf.stack(dys as T[], (attrs as unknown as tf.UnpackAttrs).axis) }),
  },
  {
    // Tiled output index = rep·size + i: split each axis into (reps, size) and sum the reps.
    kernelName: tf.Tile,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const reps = (attrs as unknown as tf.TileAttrs).reps;
      const split = x.shape.flatMap((n, i) => [reps[i]!, n]);
      const repAxes = x.shape.map((_, i) => 2 * i);
      return { x: () => tf.reshape(tf.sum(tf.reshape(dy as T, split), repAxes), x.shape) };
    },
  },
  {
    kernelName: tf.BroadcastTo,
    gradFunc: (dy, _saved, attrs) => {
      const { inputShape } = attrs as unknown as tf.BroadCastToAttrs;
      return { x: () => sumToShape(dy as T, inputShape) };
    },
  },
  {
    // ∂/∂x of a gather along `axis`: a one-hot matrix product scatters (and sums) dy rows back.
    kernelName: tf.GatherV2,
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const [x, indices] = saved as [T, T];
      const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
      if (batchDims) throw new Error('gradient of gather with batchDims > 0 is not supported');
      const a = tf.util.parseAxisParam(axis, x.shape)[0]!;
      return {
        x: () => {
          const n = x.shape[a]!;
          const m = indices.size;
          const pre = x.shape.slice(0, a);
          const post = x.shape.slice(a + 1);
          const d = tf.reshape(dy as T, [...pre, m, ...post]);
          const perm = [pre.length, ...pre.map((_, i) => i), ...post.map((_, i) => pre.length + 1 + i)];
          const rows = tf.reshape(tf.transpose(d, perm), [m, -1]);
          const oneHot = tf.oneHot(tf.reshape(tf.cast(indices, 'int32'), [m]), n, 1, 0, 'float32');
          const gathered = tf.reshape(tf.matMul(oneHot, rows, true, false), [n, ...pre, ...post]);
          return tf.transpose(gathered, tf.backend_util.getUndoAxesPermutation(perm));
        },
        indices: () => zeroGrad(indices),
      };
    },
  },
  { kernelName: tf.OneHot, inputsToSave: ['indices'], gradFunc: (_dy, saved) => ({ indices: () => zeroGrad(saved[0]!) }) },
];

interface RefCountedBackend extends tf.KernelBackend {
  incRef(dataId: tf.DataId): void;
}

/**
 * wasm's Identity copies the tensor; the engine clones every tensor a backward saves, so on wasm each
 * saved activation and weight existed twice. Share the data instead, as the cpu backend does (the
 * backend counts references; tensors are immutable).
 */
const identityWasm: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const x = inputs.x!;
    if (x.dtype === 'string') throw new Error('Identity of a string tensor on wasm is not supported here');
    (backend as RefCountedBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};

interface WasmHeapBackend extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.backend_util.TypedArray;
}

/**
 * Reverse `src` (row-major, `shape`) along `axes` into `dst`: everything after the last reversed
 * axis is one contiguous block, copied whole, so flipping a filter [kh, kw, ci, co] in space is
 * kh·kw block copies.
 */
function reverseInto(src: tf.backend_util.TypedArray, dst: tf.backend_util.TypedArray, shape: readonly number[], axes: readonly number[]): void {
  const last = Math.max(...axes);
  const inner = shape.slice(last + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, last + 1);
  const strides = outer.map((_, i) => outer.slice(i + 1).reduce((a, b) => a * b, 1));
  const reversed = outer.map((_, i) => axes.includes(i));
  const blocks = outer.reduce((a, b) => a * b, 1);
  for (let b = 0; b < blocks; b++) {
    let rest = b;
    let from = 0;
    for (let i = 0; i < outer.length; i++) {
      const q = Math.floor(rest / strides[i]!);
      rest -= q * strides[i]!;
      from += (reversed[i] ? outer[i]! - 1 - q : q) * strides[i]!;
    }
    if (inner === 1) dst[b] = src[from]!;
    else dst.set(src.subarray(from * inner, (from + 1) * inner), b * inner);
  }
}

/**
 * wasm's Reverse computes every element's source index in C (~30 ns each: 280 ms to flip a
 * 3×3×1024×1024 filter, which every input gradient of such a convolution does); block copies on the
 * heap take ~2 ms.
 */
const reverseWasm: tf.KernelConfig = {
  kernelName: tf.Reverse,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    const wasm = backend as WasmHeapBackend;
    const axes = tf.util.parseAxisParam((attrs as unknown as tf.ReverseAttrs).dims, x.shape).filter((a) => x.shape[a]! > 1);
    if (x.dtype === 'string') throw new Error('Reverse of a string tensor on wasm is not supported here');
    const out = wasm.makeOutput([...x.shape], x.dtype);
    const src = wasm.typedArrayFromHeap(x);
    // makeOutput may grow the heap, which detaches views taken before it: take them after.
    const dst = wasm.typedArrayFromHeap(out);
    if (axes.length === 0) dst.set(src);
    else reverseInto(src, dst, x.shape, axes);
    return out;
  },
};

/** Rows and columns at least this many: wasm's Transpose runs at ~10 ns an element there (strides of 4 KiB). */
const TILED_TRANSPOSE_MIN = 32;
const TILE = 16;

/** Transpose each of `batch` row-major r×c matrices of `src` into `dst`, in tiles that stay in cache. */
function transposeLastTwo(src: tf.backend_util.TypedArray, dst: tf.backend_util.TypedArray, batch: number, r: number, c: number): void {
  for (let k = 0, base = 0; k < batch; k++, base += r * c) {
    for (let i0 = 0; i0 < r; i0 += TILE) {
      const i1 = Math.min(i0 + TILE, r);
      for (let j0 = 0; j0 < c; j0 += TILE) {
        const j1 = Math.min(j0 + TILE, c);
        for (let i = i0; i < i1; i++) {
          for (let j = j0, from = base + i * c + j0; j < j1; j++, from++) dst[base + j * r + i] = src[from]!;
        }
      }
    }
  }
}

/**
 * Transposes that swap the last two axes of large matrices (a filter's channels, [kh, kw, ci, co] →
 * [kh, kw, co, ci], in every input gradient) run tiled here, ~3× faster than wasm's; others run
 * wasm's own.
 */
const transposeWasm: tf.KernelConfig = {
  kernelName: tf.Transpose,
  backendName: 'wasm',
  kernelFunc: (args) => {
    const x = args.inputs.x!;
    const perm = (args.attrs as unknown as tf.TransposeAttrs).perm;
    const n = perm.length;
    const swapsLastTwo = n >= 2 && perm[n - 1] === n - 2 && perm[n - 2] === n - 1 && perm.slice(0, n - 2).every((p, i) => p === i);
    const [r, c] = [x.shape[n - 2] ?? 0, x.shape[n - 1] ?? 0];
    if (!swapsLastTwo || x.dtype === 'string' || Math.min(r, c) < TILED_TRANSPOSE_MIN) return shippedKernel('wasm', tf.Transpose).kernelFunc(args);
    const wasm = args.backend as WasmHeapBackend;
    const out = wasm.makeOutput(
      perm.map((p) => x.shape[p]!),
      x.dtype,
    );
    transposeLastTwo(
      wasm.typedArrayFromHeap(x),
      wasm.typedArrayFromHeap(out),
      x.shape.slice(0, n - 2).reduce((a, b) => a * b, 1),
      r,
      c,
    );
    return out;
  },
};

export const shapeKernels: tf.KernelConfig[] = [identityWasm, reverseWasm, transposeWasm];
