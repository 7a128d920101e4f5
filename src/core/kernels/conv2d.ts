import * as tf from '@tensorflow/tfjs-core';
import { asTensor, replacedKernels, windowed } from './util';

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
 * - input: dx is the convolution of dy (zeros inserted between rows/cols for stride s, padded by
 *   (k−1)·d − top) with the filter flipped in space and transposed in channels, dilated by d.
 *   wasm's own Conv2DBackpropInput is a scalar loop, several times slower.
 * These formulas also give the gradients of dilated convolutions, which tfjs-core rejects, and
 * they are made of ops that have gradients, so they differentiate again (grasp).
 */

export interface ConvParams {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

type Shape4 = [number, number, number, number];

export function requireNHWC(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernel}: only dataFormat NHWC is supported here, got ${JSON.stringify(dataFormat)}`);
  }
}

export function pair(v: number | [number, number] | undefined): [number, number] {
  if (v === undefined) return [1, 1];
  return typeof v === 'number' ? [v, v] : v;
}

/** Zeros between the rows and the columns of dy, s−1 after each (stride s → dilation). */
export function insertZeros(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  const [n, oh, ow, c] = dy.shape;
  let out = dy;
  if (sh > 1) {
    const rows = tf.pad(tf.reshape(out, [n, oh, 1, ow * c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0]]);
    out = tf.reshape(rows, [n, oh * sh, ow, c]);
  }
  if (sw > 1) {
    const h = out.shape[1];
    const cols = tf.pad(tf.reshape(out, [n * h, ow, 1, c]), [[0, 0], [0, 0], [0, sw - 1], [0, 0]]);
    out = tf.reshape(cols, [n, h, ow * sw, c]);
  }
  return out;
}

/**
 * Geometry shared by the backprop formulas: strides, dilations, kernel size, padding before.
 * Depthwise filters are [kh, kw, ci, multiplier]; computeConv2DInfo reads the same fields.
 */
export function convGeometry(xShape: Shape4, filterShape: Shape4, p: ConvParams, depthwise: boolean) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    p.strides,
    p.dilations ?? 1,
    p.pad,
    p.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
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
 * dy with zeros inserted for the stride, cropped/padded so that a valid convolution with the
 * flipped, d-dilated kernel gives exactly the input's height and width.
 */
export function spreadOutputGrad(dy: tf.Tensor4D, inH: number, inW: number, g: ReturnType<typeof convGeometry>) {
  const spread = insertZeros(dy, g.sh, g.sw);
  const padTop = (g.kh - 1) * g.dh - g.top;
  const padLeft = (g.kw - 1) * g.dw - g.left;
  const needH = inH + (g.kh - 1) * g.dh;
  const needW = inW + (g.kw - 1) * g.dw;
  return windowed(spread, padTop, needH - spread.shape[1] - padTop, padLeft, needW - spread.shape[2] - padLeft);
}

/** [n, H, W, c] → [c, H, W, n] with the padding following the spatial axes. */
const SWAP_BATCH_CHANNELS = [3, 1, 2, 0];

/** ∂L/∂filter of conv2d(x, filter) given dy, as one forward convolution. Call inside a tidy. */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4, p: ConvParams): tf.Tensor4D {
  const g = convGeometry(x.shape, filterShape, p, false);
  const win = windowedInput(x, dy.shape[1], dy.shape[2], g);
  const xT = tf.transpose(win.x, SWAP_BATCH_CHANNELS); // [ci, H', W', n]
  const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, n, co]
  const dwT = tf.conv2d(xT, dyT, [g.dh, g.dw], win.padding, 'NHWC', [g.sh, g.sw]); // [ci, kh, kw, co]
  return tf.transpose(dwT, [1, 2, 0, 3]);
}

/** ∂L/∂x of conv2d(x, filter) given dy, as one forward convolution. Call inside a tidy. */
export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: Shape4, p: ConvParams): tf.Tensor4D {
  const g = convGeometry(inputShape, filter.shape, p, false);
  const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [kh, kw, co, ci]
  const spread = spreadOutputGrad(dy, inputShape[1], inputShape[2], g);
  return tf.conv2d(spread.x, flipped, 1, spread.padding, 'NHWC', [g.dh, g.dw]);
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
    return tf.tidy(() => conv2dInputGrad(asTensor(inputs.dy!), asTensor(inputs.filter!), a.inputShape, a));
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

export const conv2dKernels: tf.KernelConfig[] = [
  conv2dBackpropFilterKernel('wasm'),
  conv2dBackpropFilterKernel('cpu'),
  conv2dBackpropInputWasm,
];
export const conv2dGradients: tf.GradConfig[] = [conv2dGrad, conv2dBackpropInputGrad, conv2dBackpropFilterGrad];
