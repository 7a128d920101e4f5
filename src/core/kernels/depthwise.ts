import * as tf from '@tensorflow/tfjs-core';
import { convGeometry, inputGradByPhases, pair, requireNHWC, paddedOutputGrad, windowedInput, type ConvParams } from './conv2d';
import { asTensor, type Padding4, type Shape4 } from './util';

/**
 * Depthwise 2-D convolution family (NHWC, filter [kh, kw, C, M], output channel c·M + m).
 * wasm lacks both backprop kernels; like conv2d.ts we write them as forward depthwise
 * convolutions, which also covers dilation (DARTS' dil_conv), rejected by tfjs-core's gradient:
 * - filter: per channel, dW[kh,kw,c,m] = Σ_{n,oh,ow} x[n, oh·s+kh·d−top, …, c]·dy[n,oh,ow,c·M+m], a
 *   depthwise convolution of x laid out as one image with N·C channels [1, H', W', N·C] with the
 *   filter dy [OH, OW, N·C, M] (stride and dilation swapped), then a sum over n.
 * - input: a depthwise convolution of dy with the flipped filter [kh, kw, C·M, 1], then a sum
 *   over m; for stride s, one per stride phase (conv2d.ts' inputGradByPhases).
 */

/** ∂L/∂filter of depthwiseConv2d(x, filter) given dy. Call inside a tidy. */
export function depthwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4, p: ConvParams): tf.Tensor4D {
  const g = convGeometry(x.shape, filterShape, p, true);
  const [n, , , c] = x.shape;
  const [kh, kw, , m] = filterShape;
  const [, outH, outW] = dy.shape;
  const win = windowedInput(x, outH, outW, g);
  const image = tf.reshape(tf.transpose(win.x, [1, 2, 0, 3]), [1, win.x.shape[1], win.x.shape[2], n * c]) as tf.Tensor4D;
  const kernel = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [outH, outW, n * c, m]) as tf.Tensor4D;
  const perSample = tf.depthwiseConv2d(image, kernel, [g.dh, g.dw], win.padding, 'NHWC', [g.sh, g.sw]); // [1, kh, kw, n·c·m]
  return tf.sum(tf.reshape(perSample, [kh, kw, n, c, m]), 2) as tf.Tensor4D;
}

/** ∂L/∂x of depthwiseConv2d(x, filter) given dy. Call inside a tidy. */
export function depthwiseInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: Shape4, p: ConvParams): tf.Tensor4D {
  const g = convGeometry(inputShape, filter.shape, p, true);
  const [, , c, m] = filter.shape;
  /** Depthwise conv with flipped taps [jh, jw, c, m] as [jh, jw, c·m, 1], then the sum over m. */
  const perChannel = (x: tf.Tensor4D, padding: Padding4, taps: tf.Tensor4D, dilations: [number, number]) => {
    const [jh, jw] = taps.shape;
    const out = tf.depthwiseConv2d(x, tf.reshape(taps, [jh, jw, c * m, 1]) as tf.Tensor4D, 1, padding, 'NHWC', dilations);
    if (m === 1) return out;
    const [n, h, w] = out.shape;
    return tf.sum(tf.reshape(out, [n, h, w, c, m]), 4) as tf.Tensor4D;
  };
  if ((g.sh > 1 || g.sw > 1) && g.dh === 1 && g.dw === 1) {
    return inputGradByPhases(dy, filter, inputShape, g, c, (x, padding, taps) => perChannel(x, padding, taps, [1, 1]));
  }
  const padded = paddedOutputGrad(dy, inputShape[1], inputShape[2], g);
  return perChannel(padded.x, padded.padding, tf.reverse(filter, [0, 1]) as tf.Tensor4D, [g.dh, g.dw]);
}

interface DepthwiseAttrs extends ConvParams {
  dataFormat?: 'NHWC' | 'NCHW';
}

const depthwiseBackpropFilterWasm: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs }) => {
    const a = attrs as unknown as DepthwiseAttrs & { filterShape: Shape4 };
    return tf.tidy(() => depthwiseFilterGrad(asTensor(inputs.x!), asTensor(inputs.dy!), a.filterShape, a));
  },
};

const depthwiseBackpropInputWasm: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs }) => {
    const a = attrs as unknown as DepthwiseAttrs & { inputShape: Shape4 };
    return tf.tidy(() => depthwiseInputGrad(asTensor(inputs.dy!), asTensor(inputs.filter!), a.inputShape, a));
  },
};

function backpropAttrs(a: DepthwiseAttrs) {
  return { strides: a.strides, pad: a.pad, dilations: a.dilations ?? 1, dimRoundingMode: a.dimRoundingMode };
}

function backpropInput(dy: tf.Tensor, filter: tf.Tensor, inputShape: number[], a: DepthwiseAttrs): tf.Tensor {
  const attrs = { ...backpropAttrs(a), inputShape };
  return tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function backpropFilter(x: tf.Tensor, dy: tf.Tensor, filterShape: number[], a: DepthwiseAttrs): tf.Tensor {
  const attrs = { ...backpropAttrs(a), filterShape };
  return tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const forward = (x: tf.Tensor, filter: tf.Tensor, a: DepthwiseAttrs) =>
  tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, a.strides, a.pad, 'NHWC', a.dilations ?? 1, a.dimRoundingMode);

const isOne = (d: number | [number, number] | undefined) => pair(d).every((v) => v === 1);

/** DepthwiseConv2dNative, dilated or not: the cpu backend's backprop kernels handle dilation 1 only. */
const depthwiseGrad: tf.GradConfig = {
  kernelName: tf.DepthwiseConv2dNative,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as DepthwiseAttrs;
    requireNHWC(tf.DepthwiseConv2dNative, a.dataFormat);
    const g = dy as tf.Tensor4D;
    if (isOne(a.dilations)) {
      return { x: () => backpropInput(g, filter, x.shape, a), filter: () => backpropFilter(x, g, filter.shape, a) };
    }
    return { x: () => depthwiseInputGrad(g, filter, x.shape, a), filter: () => depthwiseFilterGrad(x, g, filter.shape, a) };
  },
};

/** Both backprops are bilinear in their two inputs (see conv2d.ts). */
const depthwiseBackpropInputGrad: tf.GradConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  inputsToSave: ['dy', 'filter'],
  gradFunc: (ddx, saved, attrs) => {
    const [dy, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as DepthwiseAttrs;
    return { dy: () => forward(ddx as tf.Tensor, filter, a), filter: () => backpropFilter(ddx as tf.Tensor, dy, filter.shape, a) };
  },
};

const depthwiseBackpropFilterGrad: tf.GradConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, saved, attrs) => {
    const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as DepthwiseAttrs;
    return { x: () => backpropInput(dy, ddw as tf.Tensor, x.shape, a), dy: () => forward(x, ddw as tf.Tensor, a) };
  },
};

export const depthwiseKernels: tf.KernelConfig[] = [depthwiseBackpropFilterWasm, depthwiseBackpropInputWasm];
export const depthwiseGradients: tf.GradConfig[] = [depthwiseGrad, depthwiseBackpropInputGrad, depthwiseBackpropFilterGrad];
