import * as tf from '@tensorflow/tfjs-core';
import { freshFlip, keptFlip, type FlipSource } from './filter-flips';
import { asTensor, replacedKernels, windowed, type Padding4, type Shape4 } from './util';

/**
 * 2-D convolution family (NHWC).
 *
 * Both backprops are written as forward convolutions, which wasm runs through XNNPACK (SIMD):
 * - filter: dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s+kh·d−top, ow·s+kw·d−left, ci]·dy[n,oh,ow,co] is
 *   a convolution of xᵀ [ci, H', W', n] with the filter dyᵀ [OH, OW, n, co], whose stride is the
 *   forward dilation and whose dilation is the forward stride; its output [ci, kh, kw, co] is dWᵀ.
 *   wasm has no Conv2DBackpropFilter kernel at all; im2col + BatchMatMul and wasm's
 *   Conv3DBackpropFilterV2 were 10–20× slower (bench/kernels.ts). The cpu backend's own is ~15×
 *   slower than this formulation on cpu, so cpu uses it too.
 * - input: dx is the convolution of dy (padded by (k−1)·d − top) with the filter flipped in space
 *   and transposed in channels, dilated by d; for stride s, one such convolution per stride phase
 *   (inputGradByPhases). wasm's own Conv2DBackpropInput is several times slower.
 * The stride-1 formulas also give the gradients of dilated convolutions (tfjs-core's reject them);
 * made of ops that have gradients, they differentiate again when the Conv2D gradient uses them
 * directly (dilation > 1; grasp). The kernels themselves are single tape nodes whose gradients
 * are registered below.
 */

export interface ConvParams {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function requireNHWC(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernel}: only dataFormat NHWC is supported here, got ${JSON.stringify(dataFormat)}`);
  }
}

export function pair(v: number | [number, number] | undefined): [number, number] {
  if (v === undefined) return [1, 1];
  return typeof v === 'number' ? [v, v] : v;
}

/**
 * Geometry shared by the backprop formulas: strides, dilations, kernel size, padding before.
 * Depthwise filters are [kh, kw, ci, multiplier]; computeConv2DInfo reads the same fields.
 */
export function convGeometry(xShape: Shape4, filterShape: Shape4, p: ConvParams, depthwise: boolean) {
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, p.strides, p.dilations ?? 1, p.pad, p.dimRoundingMode, depthwise, 'channelsLast');
  return {
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/**
 * The input rows/cols the windows touch, exactly: (out−1)·s + (k−1)·d + 1 of them, starting at
 * −top/−left: the input cropped where it has more, and the zero padding that completes it.
 */
export function windowedInput(x: tf.Tensor4D, outH: number, outW: number, g: ReturnType<typeof convGeometry>) {
  const needH = (outH - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const needW = (outW - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  return windowed(x, g.top, needH - x.shape[1] - g.top, g.left, needW - x.shape[2] - g.left);
}

/**
 * dy of a stride-1 convolution, cropped/padded so that a valid convolution with the flipped,
 * d-dilated kernel gives exactly the input's height and width. (Strided: inputGradByPhases.)
 */
export function paddedOutputGrad(dy: tf.Tensor4D, inH: number, inW: number, g: ReturnType<typeof convGeometry>) {
  if (g.sh !== 1 || g.sw !== 1) throw new Error('paddedOutputGrad: stride 1 only (strided: inputGradByPhases)');
  const padTop = (g.kh - 1) * g.dh - g.top;
  const padLeft = (g.kw - 1) * g.dw - g.left;
  const [, outH, outW] = dy.shape;
  return windowed(dy, padTop, inH + (g.kh - 1) * g.dh - outH - padTop, padLeft, inW + (g.kw - 1) * g.dw - outW - padLeft);
}

/** [n, H, W, c] → [c, H, W, n] with the padding following the spatial axes. */
const SWAP_BATCH_CHANNELS = [3, 1, 2, 0];

/** ∂L/∂filter of conv2d(x, filter) given dy, as one forward convolution (1×1: a matrix product). Call inside a tidy. */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4, p: ConvParams): tf.Tensor4D {
  const g = convGeometry(x.shape, filterShape, p, false);
  const [kh, kw, ci, co] = filterShape;
  if (kh === 1 && kw === 1 && g.sh === 1 && g.sw === 1 && g.top === 0 && g.left === 0 && x.shape[1] === dy.shape[1] && x.shape[2] === dy.shape[2]) {
    // 1×1, stride 1: dW = xᵀ·dy over every pixel, one matrix product (the convolution form below has
    // only ci output rows there, and runs ~2× slower).
    const xT = tf.transpose(tf.reshape(x, [-1, ci])) as tf.Tensor2D;
    return tf.reshape(tf.matMul(xT, tf.reshape(dy, [-1, co]) as tf.Tensor2D), filterShape);
  }
  const win = windowedInput(x, dy.shape[1], dy.shape[2], g);
  const xT = tf.transpose(win.x, SWAP_BATCH_CHANNELS); // [ci, H', W', n]
  const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, n, co]
  const dwT = tf.conv2d(xT, dyT, [g.dh, g.dw], win.padding, 'NHWC', [g.sh, g.sw]); // [ci, kh, kw, co]
  return tf.transpose(dwT, [1, 2, 0, 3]);
}

/** One axis of stride phase `phase` (see inputGradByPhases): its taps, its rows, dy's padding. */
function phaseAxis(size: number, outSize: number, k: number, s: number, before: number, phase: number) {
  const r = (phase + before) % s; // first tap kh ≡ phase + before (mod s)
  const taps = r < k ? Math.ceil((k - r) / s) : 0;
  const q = Math.floor((phase + before) / s);
  const count = Math.ceil((size - phase) / s); // input rows h ≡ phase (mod s)
  const padBefore = taps - 1 - q;
  return { r, taps, count, padBefore, padAfter: count + taps - 1 - outSize - padBefore };
}

/** Runs one phase: a stride-1 convolution of dy (cropped, plus padding) with its phase filter. */
export type PhaseConv = (dy: tf.Tensor4D, padding: Padding4, phaseFilter: tf.Tensor4D) => tf.Tensor4D;

/**
 * How a phase's flipped sub-filter taps become the filter its convolution runs (`prepare`), where
 * that filter comes from (`flips`: made afresh, or kept for a job's weights) and the name of its form.
 */
export interface PhaseFilters {
  form: string;
  prepare: (taps: tf.Tensor4D) => tf.Tensor4D;
  flips: FlipSource;
}

const FRESH_TAPS: PhaseFilters = { form: 'taps', prepare: (taps) => taps, flips: freshFlip };

/**
 * Input gradient of a strided convolution (dilation 1) without inserting zeros into dy: input rows
 * h ≡ p (mod s) only meet the taps kh ≡ p + top (mod s), so each of the s×s phases is a stride-1
 * convolution of dy with the flipped sub-filter of its taps, and the phases interleave into dx.
 * The FLOPs are the forward's instead of s² times as many. Call inside a tidy (used inside
 * kernels only: the tap selection, a strided slice, has no gradient registered).
 */
export function inputGradByPhases(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: Shape4,
  g: ReturnType<typeof convGeometry>,
  channels: number,
  phaseConv: PhaseConv,
  filters: PhaseFilters = FRESH_TAPS,
): tf.Tensor4D {
  const [n, inH, inW] = inputShape;
  const rowsPerPhase = Math.ceil(inH / g.sh);
  const colsPerPhase = Math.ceil(inW / g.sw);
  const rowPhases: tf.Tensor[] = [];
  for (let ph = 0; ph < g.sh; ph++) {
    const rows = phaseAxis(inH, dy.shape[1], g.kh, g.sh, g.top, ph);
    const colPhases: tf.Tensor4D[] = [];
    for (let pw = 0; pw < g.sw; pw++) {
      const cols = phaseAxis(inW, dy.shape[2], g.kw, g.sw, g.left, pw);
      if (rows.taps === 0 || cols.taps === 0 || rows.count <= 0 || cols.count <= 0) {
        colPhases.push(tf.zeros([n, rowsPerPhase, colsPerPhase, channels]));
        continue;
      }
      const [, , fi, fo] = filter.shape;
      const end = [rows.r + g.sh * (rows.taps - 1) + 1, cols.r + g.sw * (cols.taps - 1) + 1, fi, fo];
      const form = `${filters.form} phase ${rows.r}+${g.sh}x${rows.taps} ${cols.r}+${g.sw}x${cols.taps}`;
      const phaseFilter = filters.flips(filter, form, () =>
        filters.prepare(tf.reverse(tf.stridedSlice(filter, [rows.r, cols.r, 0, 0], end, [g.sh, g.sw, 1, 1]), [0, 1]) as tf.Tensor4D),
      );
      const win = windowed(dy, rows.padBefore, rows.padAfter, cols.padBefore, cols.padAfter);
      const phase = phaseConv(win.x, win.padding, phaseFilter); // [n, rows.count, cols.count, channels]
      const fill = [rowsPerPhase - rows.count, colsPerPhase - cols.count];
      colPhases.push(
        fill[0]! > 0 || fill[1]! > 0
          ? tf.pad(phase, [
              [0, 0],
              [0, fill[0]!],
              [0, fill[1]!],
              [0, 0],
            ])
          : phase,
      );
    }
    rowPhases.push(tf.reshape(tf.stack(colPhases, 3), [n, rowsPerPhase, colsPerPhase * g.sw, channels]));
  }
  const interleaved = tf.reshape(tf.stack(rowPhases, 2), [n, rowsPerPhase * g.sh, colsPerPhase * g.sw, channels]);
  return tf.slice(interleaved, [0, 0, 0, 0], [n, inH, inW, channels]) as tf.Tensor4D;
}

/**
 * ∂L/∂x of conv2d(x, filter) given dy, as forward convolutions. Call inside a tidy. Kernels pass
 * keptFlip (filter-flips.ts); taped callers keep the default, which flips afresh.
 */
export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: Shape4, p: ConvParams, flips: FlipSource = freshFlip): tf.Tensor4D {
  const g = convGeometry(inputShape, filter.shape, p, false);
  const swapChannels = (f: tf.Tensor4D) => tf.transpose(f, [0, 1, 3, 2]);
  if ((g.sh > 1 || g.sw > 1) && g.dh === 1 && g.dw === 1) {
    const filters = { form: 'conv2d', prepare: swapChannels, flips };
    return inputGradByPhases(dy, filter, inputShape, g, filter.shape[2], (x, padding, f) => tf.conv2d(x, f, 1, padding), filters);
  }
  const flipped = flips(filter, 'conv2d whole', () => swapChannels(tf.reverse(filter, [0, 1]))); // [kh, kw, co, ci]
  const padded = paddedOutputGrad(dy, inputShape[1], inputShape[2], g);
  return tf.conv2d(padded.x, flipped, 1, padded.padding, 'NHWC', [g.dh, g.dw]);
}

interface ConvAttrs extends ConvParams {
  dataFormat?: 'NHWC' | 'NCHW';
}

/**
 * Conv2DBackpropFilter as a convolution, for wasm (which has none) and cpu (whose shipped kernel
 * runs at ~1/15 of its own conv2d speed; it still serves NCHW, which we never use).
 */
function conv2dBackpropFilterKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropFilter,
    backendName,
    kernelFunc: (args) => {
      const a = args.attrs as unknown as ConvAttrs & { filterShape: Shape4 };
      const shipped = replacedKernels.get(`${backendName}/${tf.Conv2DBackpropFilter}`);
      if (a.dataFormat === 'NCHW' && shipped) return shipped.kernelFunc(args);
      requireNHWC(tf.Conv2DBackpropFilter, a.dataFormat);
      // A returned Tensor is adopted by the engine as the kernel's output; tidy frees the rest.
      return tf.tidy(() => conv2dFilterGrad(asTensor(args.inputs.x!), asTensor(args.inputs.dy!), a.filterShape, a));
    },
  };
}

const conv2dBackpropInputWasm: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs }) => {
    const a = attrs as unknown as ConvAttrs & { inputShape: Shape4 };
    requireNHWC(tf.Conv2DBackpropInput, a.dataFormat);
    return tf.tidy(() => conv2dInputGrad(asTensor(inputs.dy!), asTensor(inputs.filter!), a.inputShape, a, keptFlip));
  },
};

function backpropInput(dy: tf.Tensor, filter: tf.Tensor, inputShape: number[], a: ConvAttrs): tf.Tensor {
  const attrs = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat ?? 'NHWC', dimRoundingMode: a.dimRoundingMode, inputShape };
  return tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function backpropFilter(x: tf.Tensor, dy: tf.Tensor, filterShape: number[], a: ConvAttrs): tf.Tensor {
  const attrs = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat ?? 'NHWC', dimRoundingMode: a.dimRoundingMode, filterShape };
  return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const isOne = (d: number | [number, number] | undefined) => pair(d).every((v) => v === 1);

/** Conv2D, dilated or not (tfjs-core's gradient rejects dilation > 1). */
const conv2dGrad: tf.GradConfig = {
  kernelName: tf.Conv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    const g = dy as tf.Tensor4D;
    if (isOne(a.dilations)) {
      return { x: () => backpropInput(g, filter, x.shape, a), filter: () => backpropFilter(x, g, filter.shape, a) };
    }
    requireNHWC('gradient of a dilated conv2d', a.dataFormat);
    return { x: () => conv2dInputGrad(g, filter, x.shape, a), filter: () => conv2dFilterGrad(x, g, filter.shape, a) };
  },
};

/** dx = Conv2DBackpropInput(dy, W) is bilinear: ∂/∂dy is a forward conv of ddx, ∂/∂W a filter gradient. */
const conv2dBackpropInputGrad: tf.GradConfig = {
  kernelName: tf.Conv2DBackpropInput,
  inputsToSave: ['dy', 'filter'],
  gradFunc: (ddx, saved, attrs) => {
    const [dy, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    const g = ddx as tf.Tensor4D;
    return {
      dy: () => tf.conv2d(g, filter, a.strides, a.pad, a.dataFormat ?? 'NHWC', 1, a.dimRoundingMode),
      filter: () => backpropFilter(g, dy, filter.shape, a),
    };
  },
};

/** dW = Conv2DBackpropFilter(x, dy) is bilinear: ∂/∂x is an input gradient with filter ddw, ∂/∂dy a forward conv. */
const conv2dBackpropFilterGrad: tf.GradConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, saved, attrs) => {
    const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    const g = ddw as tf.Tensor4D;
    return {
      x: () => backpropInput(dy, g, x.shape, a),
      dy: () => tf.conv2d(x, g, a.strides, a.pad, a.dataFormat ?? 'NHWC', 1, a.dimRoundingMode),
    };
  },
};

export const conv2dKernels: tf.KernelConfig[] = [conv2dBackpropFilterKernel('wasm'), conv2dBackpropFilterKernel('cpu'), conv2dBackpropInputWasm];
export const conv2dGradients: tf.GradConfig[] = [conv2dGrad, conv2dBackpropInputGrad, conv2dBackpropFilterGrad];
