import * as tf from '@tensorflow/tfjs-core';
import { asFloat, runWasmKernel, shippedKernel, sumToShape, zeroGrad } from './util';

/**
 * Gradients of element-wise kernels. tfjs-core's CommonJS build (the one Node loads) registers
 * no gradients at all: they live only in its ES-module files. These are ours, written with ops
 * that themselves have gradients here, so nested tf.grads (Hessian-vector products) work.
 *
 * No gradient here reads a saved *output* (outputsToSave) where second order matters: the engine
 * tapes the output's saved copy before the kernel that produces it, so the tape's forward walk
 * never connects that copy to x and the second derivative through it is silently lost (exp,
 * rsqrt in batch norm, softmax). We recompute from the input instead.
 */

type T = tf.Tensor;
const unary = (kernelName: string, grad: (dy: T, x: T) => T): tf.GradConfig => ({
  kernelName,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => grad(dy as T, saved[0]!) }),
});
/** Piecewise-constant kernels: zero gradient (a mask computed from x does not depend on x). */
const constant = (kernelName: string, inputs: string[]): tf.GradConfig => ({
  kernelName,
  inputsToSave: inputs,
  gradFunc: (_dy, saved) => Object.fromEntries(inputs.map((name, i) => [name, () => zeroGrad(saved[i]!)])),
});
/** Broadcasting binary kernels: ∂/∂a and ∂/∂b at full shape, summed back to each operand. */
const binary = (kernelName: string, da: (dy: T, a: T, b: T) => T, db: (dy: T, a: T, b: T) => T): tf.GradConfig => ({
  kernelName,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved) => {
    const [a, b] = saved as [T, T];
    return { a: () => sumToShape(da(dy as T, a, b), a.shape), b: () => sumToShape(db(dy as T, a, b), b.shape) };
  },
});

export const elementwiseGradients: tf.GradConfig[] = [
  { kernelName: tf.Identity, gradFunc: (dy) => ({ x: () => asFloat(dy as T) }) },
  { kernelName: tf.Cast, gradFunc: (dy) => ({ x: () => asFloat(dy as T) }) },
  { kernelName: tf.Neg, gradFunc: (dy) => ({ x: () => tf.neg(dy as T) }) },
  // sign(x): 0 at x = 0, as torch.abs' gradient.
  unary(tf.Abs, (dy, x) => tf.mul(dy, tf.sign(x))),
  unary(tf.Square, (dy, x) => tf.mul(dy, tf.mul(x, 2))),
  unary(tf.Log, (dy, x) => tf.div(dy, x)),
  unary(tf.Log1p, (dy, x) => tf.div(dy, tf.add(x, 1))),
  unary(tf.Exp, (dy, x) => tf.mul(dy, tf.exp(x))),
  unary(tf.Expm1, (dy, x) => tf.mul(dy, tf.exp(x))),
  unary(tf.Sqrt, (dy, x) => tf.div(dy, tf.mul(tf.sqrt(x), 2))),
  unary(tf.Rsqrt, (dy, x) => tf.mul(dy, tf.mul(tf.div(tf.rsqrt(x), x), -0.5))),
  unary(tf.Reciprocal, (dy, x) => tf.neg(tf.div(dy, tf.square(x)))),
  unary(tf.Sigmoid, (dy, x) => {
    const y = tf.sigmoid(x);
    return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
  }),
  unary(tf.Tanh, (dy, x) => tf.mul(dy, tf.sub(1, tf.square(tf.tanh(x))))),
  unary(tf.Softplus, (dy, x) => tf.mul(dy, tf.sigmoid(x))),
  unary(tf.Sin, (dy, x) => tf.mul(dy, tf.cos(x))),
  unary(tf.Cos, (dy, x) => tf.neg(tf.mul(dy, tf.sin(x)))),
  // ReLU family: the mask is a Step of x, whose own gradient is zero.
  unary(tf.Relu, (dy, x) => tf.mul(dy, tf.step(x))),
  unary(tf.Relu6, (dy, x) => tf.mul(dy, tf.mul(tf.step(x), asFloat(tf.lessEqual(x, 6))))),
  {
    kernelName: tf.LeakyRelu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const alpha = (attrs as unknown as tf.LeakyReluAttrs).alpha;
      return { x: () => tf.where(tf.greater(saved[0]!, 0), dy as T, tf.mul(dy as T, alpha)) };
    },
  },
  unary(tf.Elu, (dy, x) => tf.where(tf.greater(x, 0), dy, tf.mul(dy, tf.exp(x)))),
  unary(tf.Selu, (dy, x) => tf.where(tf.greater(x, 0), tf.mul(dy, tf.backend_util.SELU_SCALE), tf.mul(dy, tf.mul(tf.exp(x), tf.backend_util.SELU_SCALEALPHA)))),
  {
    kernelName: tf.ClipByValue,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const { clipValueMin, clipValueMax } = attrs as unknown as tf.ClipByValueAttrs;
      const x = saved[0]!;
      const inside = tf.logicalAnd(tf.greaterEqual(x, clipValueMin), tf.lessEqual(x, clipValueMax));
      return { x: () => tf.mul(dy as T, asFloat(inside)) };
    },
  },
  ...[tf.Step, tf.Sign, tf.Floor, tf.Ceil, tf.Round, tf.IsNan, tf.IsInf, tf.IsFinite, tf.ZerosLike, tf.OnesLike, tf.LogicalNot].map((k) => constant(k, ['x'])),
  ...[tf.Equal, tf.NotEqual, tf.Greater, tf.GreaterEqual, tf.Less, tf.LessEqual, tf.LogicalAnd, tf.LogicalOr].map((k) => constant(k, ['a', 'b'])),
  binary(
    tf.Add,
    (dy) => dy,
    (dy) => dy,
  ),
  binary(
    tf.Sub,
    (dy) => dy,
    (dy) => tf.neg(dy),
  ),
  binary(
    tf.Multiply,
    (dy, _a, b) => tf.mul(dy, b),
    (dy, a) => tf.mul(dy, a),
  ),
  binary(
    tf.RealDiv,
    (dy, _a, b) => tf.div(dy, b),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b))),
  ),
  binary(
    tf.SquaredDifference,
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(a, b), 2)),
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(b, a), 2)),
  ),
  // Ties go to a, as tfjs and torch.maximum's subgradient convention.
  binary(
    tf.Maximum,
    (dy, a, b) => tf.mul(dy, asFloat(tf.greaterEqual(a, b))),
    (dy, a, b) => tf.mul(dy, asFloat(tf.less(a, b))),
  ),
  binary(
    tf.Minimum,
    (dy, a, b) => tf.mul(dy, asFloat(tf.lessEqual(a, b))),
    (dy, a, b) => tf.mul(dy, asFloat(tf.greater(a, b))),
  ),
  {
    kernelName: tf.Pow,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as [T, T];
      const bf = asFloat(b);
      return {
        a: () => sumToShape(tf.mul(dy as T, tf.mul(bf, tf.pow(a, tf.sub(bf, 1)))), a.shape),
        // log(a) only where a > 0: elsewhere the real power has no derivative in b.
        b: () => sumToShape(tf.mul(dy as T, tf.mul(tf.pow(a, bf), tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a)))), b.shape),
      };
    },
  },
  {
    kernelName: tf.AddN,
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [String(i), () => tf.clone(dy as T)])),
  },
  {
    kernelName: tf.Select,
    inputsToSave: ['condition'],
    gradFunc: (dy, saved) => {
      const mask = asFloat(saved[0]!);
      return {
        condition: () => zeroGrad(saved[0]!),
        t: () => tf.mul(dy as T, mask),
        e: () => tf.mul(dy as T, tf.sub(1, mask)),
      };
    },
  },
];

/**
 * Multiply by a per-channel vector on wasm ([N, H, W, C] ⊙ [C], a batch norm's scale and most of
 * its gradient): wasm broadcasts with a generic indexed loop, ~2× slower than an element-wise
 * product; a 1×1 depthwise convolution with the vector as filter is the same products (one rounding
 * each, no sum) and runs in XNNPACK. Anything else: the shipped kernel.
 */
const multiplyByChannelsWasm: tf.KernelConfig = {
  kernelName: tf.Multiply,
  backendName: 'wasm',
  kernelFunc: (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const channelwise = (x: tf.TensorInfo, v: tf.TensorInfo) => {
      const c = x.shape[3];
      return (
        x.shape.length === 4 &&
        x.dtype === 'float32' &&
        v.dtype === 'float32' &&
        c !== undefined &&
        c > 1 &&
        v.shape[v.shape.length - 1] === c &&
        v.shape.every((d, i) => d === 1 || i === v.shape.length - 1)
      );
    };
    const [x, v] = channelwise(a, b) ? [a, b] : channelwise(b, a) ? [b, a] : [null, null];
    if (!x || !v) return shippedKernel('wasm', tf.Multiply).kernelFunc(args);
    const filter = { ...v, shape: [1, 1, x.shape[3]!, 1] };
    return runWasmKernel(tf.DepthwiseConv2dNative, { x, filter }, { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC' }, args.backend);
  },
};

export const elementwiseKernels: tf.KernelConfig[] = [multiplyByChannelsWasm];
