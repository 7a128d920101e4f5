import * as tf from '@tensorflow/tfjs-core';
import { sumToShape, zeroGrad } from './util';

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

export const shapeKernels: tf.KernelConfig[] = [identityWasm];
