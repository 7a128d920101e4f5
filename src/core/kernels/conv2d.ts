import * as tf from '@tensorflow/tfjs-core';
import { asTensor, padOrCrop, replaceKernel } from './util';

/**
 * 2-D convolution family.
 *
 * - wasm has no Conv2DBackpropFilter. We compute it as a convolution that XNNPACK (wasm's Conv2D)
 *   runs fast: dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s+kh−top, ow·s+kw−left, ci]·dy[n,oh,ow,co] is
 *   a stride-1 convolution of xᵀ [ci, H', W', n] with the filter dyᵀ [OH, OW, n, co] dilated by the
 *   forward stride; its output [ci, kh, kw, co] is dW transposed. (im2col + BatchMatMul and wasm's
 *   Conv3DBackpropFilterV2 were 10–20× slower: see bench/kernels.ts.)
 * - Conv2DBackpropFilter has no gradient in tfjs-core; second-order methods (grasp's
 *   Hessian-vector product) differentiate through it. It is bilinear in (x, dy).
 */

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function requireNHWC(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on wasm supports dataFormat NHWC only, got ${JSON.stringify(dataFormat)}`);
  }
}

/** dW of a dilation-1 conv2d as a convolution (see the file comment). Call inside a tidy. */
export function conv2dFilterGradByConv(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  attrs: ConvAttrs,
): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const [, inH, inW] = x.shape;
  const [, outH, outW] = dy.shape;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  // Rows/cols the windows touch: exactly (out−1)·s + k, starting at −top/−left.
  const needH = (outH - 1) * sh + kh;
  const needW = (outW - 1) * sw + kw;
  const { top, left } = info.padInfo;
  const xWindowed = padOrCrop(x, top, needH - inH - top, left, needW - inW - left);
  const xT = tf.transpose(xWindowed, [3, 1, 2, 0]); // [ci, needH, needW, n]
  const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [outH, outW, n, co]
  const dwT = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [sh, sw]); // [ci, kh, kw, co]
  return tf.transpose(dwT, [1, 2, 0, 3]);
}

const conv2dBackpropFilterWasm: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs }) => {
    const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
    requireNHWC(tf.Conv2DBackpropFilter, a.dataFormat);
    // Return the op result itself: the engine adopts a returned Tensor as the kernel output;
    // tidy disposes the intermediates (transposes, padded copy).
    return tf.tidy(() =>
      conv2dFilterGradByConv(asTensor<tf.Rank.R4>(inputs.x!), asTensor<tf.Rank.R4>(inputs.dy!), a.filterShape, a),
    );
  },
};

/** Gradient of dW = Conv2DBackpropFilter(x, dy) given the upstream ddw (filter-shaped). */
const conv2dBackpropFilterGrad: tf.GradConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, saved, attrs) => {
    const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    const g = ddw as tf.Tensor4D;
    return {
      // ∂⟨ddw, dW⟩/∂x: the input-gradient of a conv with filter ddw, upstream dy.
      x: () =>
        tf.engine().runKernel(
          tf.Conv2DBackpropInput,
          { dy, filter: g },
          { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat, dimRoundingMode: a.dimRoundingMode, inputShape: x.shape } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor,
      // ∂⟨ddw, dW⟩/∂dy: the forward conv of x with filter ddw.
      dy: () => tf.conv2d(x, g, a.strides, a.pad, a.dataFormat, 1, a.dimRoundingMode),
    };
  },
};

export function registerConv2dKernels(): void {
  replaceKernel(conv2dBackpropFilterWasm);
  tf.registerGradient(conv2dBackpropFilterGrad);
}
