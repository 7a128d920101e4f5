import * as tf from '@tensorflow/tfjs-core';
import { asTensor, shippedKernel, zeroGrad } from './util';

/**
 * 2-D pooling gradients (NHWC).
 *
 * AvgPool: tfjs averages over the valid cells of a padded window (count_include_pad = False, as
 * NASLib's avg_pool_3x3), but its AvgPoolGrad kernel (cpu and wasm) divides by the full window
 * size, so the stock gradient is wrong at the borders. We scale dy by window/valid count first.
 *
 * MaxPool: dy goes to the first maximum of each window in row-major order, over valid cells
 * (tfjs cpu's and torch's rule). wasm's MaxPoolGrad differs on ties and loses the gradient of
 * windows whose valid cells are all equal to the zero padding (common after ReLU), so we replace
 * it on wasm and cpu with one routing function; the second-order gradient uses the same routing.
 */

type T = tf.Tensor;

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function poolInfo(xShape: number[], a: PoolAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
}

/** Valid cells per window along one axis: |[o·s − before, o·s − before + k) ∩ [0, size)|. */
function validCounts(out: number, stride: number, before: number, k: number, size: number): number[] {
  return Array.from({ length: out }, (_, o) => {
    const start = o * stride - before;
    return Math.min(start + k, size) - Math.max(start, 0);
  });
}

/** window size / valid cells, [1, OH, OW, 1]; null when every window is whole. */
function avgPoolScale(info: tf.backend_util.Conv2DInfo): T | null {
  const rows = validCounts(info.outHeight, info.strideHeight, info.padInfo.top, info.filterHeight, info.inHeight);
  const cols = validCounts(info.outWidth, info.strideWidth, info.padInfo.left, info.filterWidth, info.inWidth);
  const full = info.filterHeight * info.filterWidth;
  if (rows.every((r) => r === info.filterHeight) && cols.every((c) => c === info.filterWidth)) return null;
  const scale = new Float32Array(rows.length * cols.length);
  rows.forEach((r, i) => cols.forEach((c, j) => (scale[i * cols.length + j] = full / (r * c))));
  return tf.tensor4d(scale, [1, rows.length, cols.length, 1]);
}

function avgPoolGradKernel(dy: T, x: T, a: PoolAttrs): T {
  return tf
    .engine()
    .runKernel(tf.AvgPoolGrad, { dy, input: x }, { filterSize: a.filterSize, strides: a.strides, pad: a.pad } as unknown as tf.NamedAttrMap) as T;
}

const avgPoolGrad: tf.GradConfig = {
  kernelName: tf.AvgPool,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0]!;
    const a = attrs as unknown as PoolAttrs;
    return {
      x: () => {
        const scale = avgPoolScale(poolInfo(x.shape, a));
        return avgPoolGradKernel(scale ? tf.mul(dy as T, scale) : (dy as T), x, a);
      },
    };
  },
};

/** AvgPoolGrad is linear in dy; its adjoint sums each window and divides by the full window size. */
const avgPoolGradGrad: tf.GradConfig = {
  kernelName: tf.AvgPoolGrad,
  inputsToSave: ['dy', 'input'],
  gradFunc: (ddx, saved, attrs) => {
    const [dy, x] = saved as [T, T];
    const a = attrs as unknown as PoolAttrs;
    return {
      dy: () => {
        const pooled = tf.avgPool(ddx as tf.Tensor4D, a.filterSize, a.strides, a.pad as 'same');
        if (!tf.util.arraysEqual(pooled.shape, dy.shape)) {
          throw new Error(`AvgPoolGrad gradient: pooled shape ${pooled.shape} differs from dy ${dy.shape}`);
        }
        const scale = avgPoolScale(poolInfo(x.shape, a));
        return scale ? tf.div(pooled, scale) : pooled;
      },
      input: () => zeroGrad(x),
    };
  },
};

/**
 * For each pooled output (NHWC order), the flat index in x of its window's first maximum, or −1
 * when the window has no comparable value (all NaN or −∞; tfjs cpu drops those too).
 */
export function maxPoolRouting(x: Float32Array | Int32Array | Uint8Array, info: tf.backend_util.Conv2DInfo): Int32Array {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const route = new Int32Array(batchSize * OH * OW * C).fill(-1);
  const best = new Float64Array(C);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - top;
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * sw - left;
        const o = ((b * OH + oh) * OW + ow) * C;
        best.fill(-Infinity);
        // Window rows, then cols, channels innermost (contiguous); strict '>' keeps the first max.
        for (let r = Math.max(r0, 0); r < Math.min(r0 + fh, H); r++) {
          for (let c = Math.max(c0, 0); c < Math.min(c0 + fw, W); c++) {
            const base = ((b * H + r) * W + c) * C;
            for (let ch = 0; ch < C; ch++) {
              const v = x[base + ch]!;
              if (v > best[ch]!) {
                best[ch] = v;
                route[o + ch] = base + ch;
              }
            }
          }
        }
      }
    }
  }
  return route;
}

/** MaxPoolGrad with maxPoolRouting: dx[route[o]] += dy[o]. Replaces cpu's and wasm's kernels. */
function maxPoolGradKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: tf.MaxPoolGrad,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const x = asTensor(inputs.input!);
      const dy = asTensor(inputs.dy!);
      const route = maxPoolRouting(x.dataSync(), poolInfo(x.shape, attrs as unknown as PoolAttrs));
      const dyValues = dy.dataSync();
      const dx = new Float32Array(x.size);
      for (let o = 0; o < route.length; o++) {
        const i = route[o]!;
        if (i >= 0) dx[i] += dyValues[o]!;
      }
      return tf.tensor(dx, x.shape, 'float32');
    },
  };
}

const maxPoolGrad: tf.GradConfig = {
  kernelName: tf.MaxPool,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved as [T, T];
    const a = attrs as unknown as PoolAttrs;
    const kernelAttrs = { filterSize: a.filterSize, strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode };
    return {
      x: () => tf.engine().runKernel(tf.MaxPoolGrad, { dy: dy as T, input: x, output: y }, kernelAttrs as unknown as tf.NamedAttrMap) as T,
    };
  },
};

/** MaxPoolGrad is linear in dy (a routing); ∂/∂dy gathers ddx at the routed cells. */
const maxPoolGradGrad: tf.GradConfig = {
  kernelName: tf.MaxPoolGrad,
  inputsToSave: ['dy', 'input', 'output'],
  gradFunc: (ddx, saved, attrs) => {
    const [dy, x, y] = saved as [T, T, T];
    return {
      dy: () => {
        const route = maxPoolRouting(x.dataSync(), poolInfo(x.shape, attrs as unknown as PoolAttrs));
        const ddxValues = (ddx as T).dataSync();
        const out = new Float32Array(route.length);
        for (let o = 0; o < route.length; o++) {
          const i = route[o]!;
          out[o] = i >= 0 ? ddxValues[i]! : 0;
        }
        return tf.tensor(out, dy.shape, 'float32');
      },
      input: () => zeroGrad(x),
      output: () => zeroGrad(y),
    };
  },
};

/**
 * AvgPoolGrad at stride 1 on wasm: spreading each dy over its window (÷ the full window, as the
 * kernel defines it) is an average pooling of dy zero-padded by k − 1 − pad, which XNNPACK runs
 * ~20× faster than wasm's own AvgPoolGrad loop (NB201's avg_pool_3x3 edges). Other strides: shipped.
 */
const avgPoolGradWasm: tf.KernelConfig = {
  kernelName: tf.AvgPoolGrad,
  backendName: 'wasm',
  kernelFunc: (args) => {
    const x = args.inputs.input!;
    const info = poolInfo(x.shape, args.attrs as unknown as PoolAttrs);
    const { top, bottom, left, right } = info.padInfo;
    const before = [info.filterHeight - 1 - top, info.filterWidth - 1 - left];
    const after = [info.filterHeight - 1 - bottom, info.filterWidth - 1 - right];
    if (info.strideHeight !== 1 || info.strideWidth !== 1 || [...before, ...after].some((p) => p < 0)) {
      return shippedKernel('wasm', tf.AvgPoolGrad).kernelFunc(args);
    }
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy!);
    return tf.tidy(() =>
      tf.avgPool(
        tf.pad(dy, [
          [0, 0],
          [before[0]!, after[0]!],
          [before[1]!, after[1]!],
          [0, 0],
        ]),
        [info.filterHeight, info.filterWidth],
        1,
        'valid',
      ),
    );
  },
};

export const poolingKernels: tf.KernelConfig[] = [maxPoolGradKernel('cpu'), maxPoolGradKernel('wasm'), avgPoolGradWasm];
export const poolingGradients: tf.GradConfig[] = [avgPoolGrad, avgPoolGradGrad, maxPoolGrad, maxPoolGradGrad];
