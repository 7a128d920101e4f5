import { initBackend, tf } from '../src/core/backend';
import { Rng } from '../src/core/rng';
import { directionalGradError, onBackend, randn } from './helpers/gradcheck';

/**
 * Every gradient we register, against central finite differences in float32 (directional:
 * ⟨∇f, v⟩ for random v), on the cpu and the wasm backend. f = Σ op(inputs)·R with a fixed random R.
 * Inputs of kinked ops are kept away from their kinks so the difference quotient is smooth.
 */

type T = tf.Tensor;
type Build = (rng: Rng) => T[];
interface Case {
  name: string;
  inputs: Build;
  op: (...xs: T[]) => T;
  /** Finite-difference step; smaller for kinked ops (ReLU, max), whose inputs are kept ≥ 0.1 from the kink. */
  h?: number;
}

const shape = (...s: number[]) => s;
const normal =
  (...s: number[]): Build =>
  (rng) => [randn(rng, s)];
/** Entries at least 0.1 away from 0 (kinks of relu, abs, sign-based masks). */
const awayFromZero = (rng: Rng, s: number[]) =>
  tf.tidy(() => {
    const x = randn(rng, s);
    return tf.mul(tf.sign(x), tf.add(tf.abs(x), 0.1));
  });
const positive = (rng: Rng, s: number[]) => tf.tidy(() => tf.add(tf.abs(randn(rng, s)), 0.5));
const conv =
  (s: number | [number, number], p: 'same' | 'valid' | number, d = 1) =>
  (x: T, w: T) =>
    tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, p, 'NHWC', d);
const dw =
  (s: number, p: 'same' | 'valid' | number, d = 1) =>
  (x: T, w: T) =>
    tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, p, 'NHWC', d);
const kernel = (name: string, attrs: object) => (inputs: Record<string, T>) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as T;

const CASES: Case[] = [
  // element-wise
  { name: 'abs', inputs: (r) => [awayFromZero(r, shape(3, 4))], op: tf.abs, h: 1e-3 },
  { name: 'neg', inputs: normal(3, 4), op: tf.neg },
  { name: 'square', inputs: normal(3, 4), op: tf.square },
  { name: 'exp', inputs: normal(3, 4), op: tf.exp },
  { name: 'expm1', inputs: normal(3, 4), op: tf.expm1 },
  { name: 'log', inputs: (r) => [positive(r, shape(3, 4))], op: tf.log },
  { name: 'log1p', inputs: (r) => [positive(r, shape(3, 4))], op: tf.log1p },
  { name: 'sqrt', inputs: (r) => [positive(r, shape(3, 4))], op: tf.sqrt },
  { name: 'rsqrt', inputs: (r) => [positive(r, shape(3, 4))], op: tf.rsqrt },
  { name: 'reciprocal', inputs: (r) => [positive(r, shape(3, 4))], op: tf.reciprocal },
  { name: 'sigmoid', inputs: normal(3, 4), op: tf.sigmoid },
  { name: 'tanh', inputs: normal(3, 4), op: tf.tanh },
  { name: 'softplus', inputs: normal(3, 4), op: tf.softplus },
  { name: 'sin', inputs: normal(3, 4), op: tf.sin },
  { name: 'cos', inputs: normal(3, 4), op: tf.cos },
  { name: 'relu', inputs: (r) => [awayFromZero(r, shape(3, 4))], op: tf.relu, h: 1e-3 },
  { name: 'relu6', inputs: (r) => [tf.tidy(() => tf.mul(awayFromZero(r, shape(3, 4)), 4))], op: tf.relu6, h: 1e-3 },
  { name: 'leakyRelu', inputs: (r) => [awayFromZero(r, shape(3, 4))], op: (x) => tf.leakyRelu(x, 0.1), h: 1e-3 },
  { name: 'elu', inputs: (r) => [awayFromZero(r, shape(3, 4))], op: tf.elu, h: 1e-3 },
  { name: 'selu', inputs: (r) => [awayFromZero(r, shape(3, 4))], op: tf.selu, h: 1e-3 },
  { name: 'clipByValue', inputs: (r) => [awayFromZero(r, shape(3, 4))], op: (x) => tf.clipByValue(x, -0.05, 0.05), h: 1e-3 },
  { name: 'cast float→float and identity', inputs: normal(3, 4), op: (x) => tf.clone(tf.cast(x, 'float32')) },
  // broadcasting binary
  { name: 'add (broadcast)', inputs: (r) => [randn(r, [2, 3, 4]), randn(r, [3, 1])], op: tf.add },
  { name: 'sub (broadcast)', inputs: (r) => [randn(r, [2, 3, 4]), randn(r, [4])], op: tf.sub },
  { name: 'mul (broadcast)', inputs: (r) => [randn(r, [2, 3, 4]), randn(r, [1, 3, 1])], op: tf.mul },
  { name: 'div (broadcast)', inputs: (r) => [randn(r, [2, 3, 4]), positive(r, [4])], op: tf.div },
  { name: 'squaredDifference', inputs: (r) => [randn(r, [3, 4]), randn(r, [3, 4])], op: tf.squaredDifference },
  { name: 'pow', inputs: (r) => [positive(r, [3, 4]), randn(r, [3, 4])], op: tf.pow },
  { name: 'maximum', inputs: (r) => [randn(r, [3, 4]), randn(r, [3, 4])], op: tf.maximum, h: 1e-3 },
  { name: 'minimum', inputs: (r) => [randn(r, [3, 4]), randn(r, [4])], op: tf.minimum, h: 1e-3 },
  { name: 'addN', inputs: (r) => [randn(r, [3, 4]), randn(r, [3, 4]), randn(r, [3, 4])], op: (...xs) => tf.addN(xs) },
  { name: 'where', inputs: (r) => [randn(r, [3, 4]), randn(r, [3, 4])], op: (a, b) => tf.where(tf.greater(a, b), tf.mul(a, b), tf.square(b)), h: 1e-3 },
  // reductions, softmax
  { name: 'sum over axes', inputs: normal(2, 3, 4), op: (x) => tf.sum(x, [0, 2]) },
  { name: 'mean over axes', inputs: normal(2, 3, 4), op: (x) => tf.mean(x, [1, 2], true) },
  { name: 'max', inputs: normal(2, 3, 4), op: (x) => tf.max(x, 1), h: 1e-3 },
  { name: 'min', inputs: normal(2, 3, 4), op: (x) => tf.min(x, [0, 2]), h: 1e-3 },
  { name: 'softmax', inputs: normal(3, 5), op: (x) => tf.softmax(x) },
  { name: 'logSoftmax', inputs: normal(3, 5), op: (x) => tf.logSoftmax(x) },
  { name: 'logSumExp (max shift: smooth overall)', inputs: normal(3, 5), op: (x) => tf.logSumExp(x, 1) },
  // shape and data movement
  { name: 'reshape + transpose', inputs: normal(2, 3, 4), op: (x) => tf.transpose(tf.reshape(x, [6, 4]), [1, 0]) },
  { name: 'expandDims', inputs: normal(3, 4), op: (x) => tf.expandDims(x, 1) },
  { name: 'slice', inputs: normal(4, 5), op: (x) => tf.slice(x, [1, 2], [2, -1]) },
  {
    name: 'pad',
    inputs: normal(2, 3),
    op: (x) =>
      tf.pad(
        x,
        [
          [1, 0],
          [2, 1],
        ],
        0.5,
      ),
  },
  { name: 'concat', inputs: (r) => [randn(r, [2, 3]), randn(r, [2, 1])], op: (a, b) => tf.concat([a, b, a], 1) },
  { name: 'split', inputs: normal(2, 6), op: (x) => tf.mul(tf.split(x, [2, 4], 1)[1]!, 3) },
  { name: 'stack / unstack', inputs: (r) => [randn(r, [2, 3]), randn(r, [2, 3])], op: (a, b) => tf.unstack(tf.stack([a, b], 1), 2)[1]! },
  { name: 'tile', inputs: normal(2, 3), op: (x) => tf.tile(x, [2, 3]) },
  { name: 'broadcastTo', inputs: normal(3, 1), op: (x) => tf.broadcastTo(x, [2, 3, 4]) },
  { name: 'gather', inputs: normal(4, 3), op: (x) => tf.gather(x, tf.tensor1d([3, 0, 3, 1], 'int32'), 0) },
  { name: 'reverse', inputs: normal(3, 4), op: (x) => tf.reverse(x, [0, 1]) },
  { name: 'resizeBilinear', inputs: normal(1, 3, 4, 2), op: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [5, 7]) },
  { name: 'resizeNearestNeighbor', inputs: normal(1, 3, 4, 2), op: (x) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [6, 8]) },
  // matmul
  ...[false, true].flatMap((ta) =>
    [false, true].map((tb): Case => ({
      name: `matMul transposeA=${ta} transposeB=${tb}`,
      inputs: (r) => [randn(r, ta ? [4, 3] : [3, 4]), randn(r, tb ? [5, 4] : [4, 5])],
      op: (a, b) => tf.matMul(a, b, ta, tb),
    })),
  ),
  { name: 'batched matMul', inputs: (r) => [randn(r, [2, 3, 4]), randn(r, [2, 4, 2])], op: (a, b) => tf.matMul(a, b) },
  // convolutions
  { name: 'conv2d 3x3 same', inputs: (r) => [randn(r, [2, 6, 5, 3]), randn(r, [3, 3, 3, 4])], op: conv(1, 'same') },
  { name: 'conv2d stride 2 numeric pad', inputs: (r) => [randn(r, [2, 7, 7, 2]), randn(r, [3, 3, 2, 3])], op: conv(2, 1) },
  { name: 'conv2d strides [1,2] valid', inputs: (r) => [randn(r, [1, 6, 7, 2]), randn(r, [2, 3, 2, 3])], op: conv([1, 2], 'valid') },
  { name: 'conv2d dilation 2', inputs: (r) => [randn(r, [2, 7, 7, 2]), randn(r, [3, 3, 2, 3])], op: conv(1, 2, 2) },
  { name: 'conv2d 5x5 dilation 2 same', inputs: (r) => [randn(r, [1, 9, 8, 2]), randn(r, [5, 5, 2, 2])], op: conv(1, 'same', 2) },
  { name: 'depthwise 3x3 same', inputs: (r) => [randn(r, [2, 6, 5, 3]), randn(r, [3, 3, 3, 1])], op: dw(1, 'same') },
  { name: 'depthwise stride 2 multiplier 2', inputs: (r) => [randn(r, [2, 7, 7, 2]), randn(r, [3, 3, 2, 2])], op: dw(2, 1) },
  { name: 'depthwise dilation 2 (dil_conv)', inputs: (r) => [randn(r, [2, 8, 8, 2]), randn(r, [3, 3, 2, 1])], op: dw(1, 2, 2) },
  {
    name: 'conv2dTranspose (Conv2DBackpropInput as a forward op)',
    inputs: (r) => [randn(r, [2, 4, 4, 3]), randn(r, [3, 3, 2, 3])],
    op: (x, w) => tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [2, 8, 8, 2], 2, 'same'),
  },
  // pooling
  { name: 'avgPool 3x3 stride 1 pad 1 (count_include_pad = False)', inputs: normal(2, 5, 4, 2), op: (x) => tf.avgPool(x as tf.Tensor4D, 3, 1, 1) },
  { name: 'avgPool 2x2 stride 2 valid', inputs: normal(2, 6, 6, 2), op: (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'avgPool 3x3 stride 2 same', inputs: normal(1, 7, 6, 2), op: (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same') },
  { name: 'maxPool 3x3 stride 1 same', inputs: normal(2, 5, 5, 2), op: (x) => tf.maxPool(x as tf.Tensor4D, 3, 1, 'same'), h: 1e-3 },
  { name: 'maxPool 3x3 stride 2 pad 1', inputs: normal(1, 7, 7, 2), op: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 1), h: 1e-3 },
  // backprop kernels as functions of their inputs: the gradients second-order methods use
  {
    name: 'Conv2DBackpropFilter(x, dy)',
    inputs: (r) => [randn(r, [2, 6, 6, 2]), randn(r, [2, 3, 3, 3])],
    op: (x, dy) => kernel(tf.Conv2DBackpropFilter, { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] })({ x: x!, dy: dy! }),
  },
  {
    name: 'Conv2DBackpropInput(dy, filter)',
    inputs: (r) => [randn(r, [2, 3, 3, 3]), randn(r, [3, 3, 2, 3])],
    op: (dy, w) => kernel(tf.Conv2DBackpropInput, { strides: 2, pad: 1, dataFormat: 'NHWC', inputShape: [2, 6, 6, 2] })({ dy: dy!, filter: w! }),
  },
  {
    name: 'DepthwiseConv2dNativeBackpropFilter(x, dy)',
    inputs: (r) => [randn(r, [2, 5, 5, 2]), randn(r, [2, 5, 5, 4])],
    op: (x, dy) => kernel(tf.DepthwiseConv2dNativeBackpropFilter, { strides: 1, pad: 'same', dilations: 1, filterShape: [3, 3, 2, 2] })({ x: x!, dy: dy! }),
  },
  {
    name: 'DepthwiseConv2dNativeBackpropInput(dy, filter)',
    inputs: (r) => [randn(r, [2, 3, 3, 2]), randn(r, [3, 3, 2, 1])],
    op: (dy, w) => kernel(tf.DepthwiseConv2dNativeBackpropInput, { strides: 2, pad: 'same', dilations: 1, inputShape: [2, 6, 6, 2] })({ dy: dy!, filter: w! }),
  },
  {
    name: 'AvgPoolGrad(dy) with padded windows',
    inputs: normal(2, 5, 4, 2),
    op: (dy) => kernel(tf.AvgPoolGrad, { filterSize: 3, strides: 1, pad: 1 })({ dy: dy!, input: tf.zeros([2, 5, 4, 2]) }),
  },
  {
    name: 'MaxPoolGrad(dy) for a fixed input',
    inputs: normal(1, 3, 3, 2),
    op: (dy) =>
      tf.tidy(() => {
        const x = randn(new Rng('maxpool fixed input'), [1, 6, 6, 2]);
        return kernel(tf.MaxPoolGrad, { filterSize: 3, strides: 2, pad: 'same' })({ dy: dy!, input: x, output: tf.maxPool(x as tf.Tensor4D, 3, 2, 'same') });
      }),
  },
];

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

describe.each(['cpu', 'wasm'])('gradients on %s match finite differences', (backend) => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await onBackend(backend, () => {
      const rng = new Rng(`grad ${c.name}`);
      const before = tf.memory().numTensors;
      const inputs = c.inputs(rng);
      const weights = tf.tidy(() => randn(rng, c.op(...inputs).shape));
      const f = (...xs: T[]) => tf.sum(tf.mul(c.op(...xs), weights)) as tf.Scalar;
      const error = directionalGradError(f, inputs, rng, { h: c.h ?? 1e-2 });
      tf.dispose([...inputs, weights]);
      expect(error).toBeLessThan(1e-3);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});

test('tfjs-core’s own AvgPool gradient would be wrong at padded borders; ours is the exact one', async () => {
  // avgPool([1..9] as 3x3, 3x3, stride 1, pad 1): corner input 1 is in windows of 4, 6, 6 and 9 valid cells.
  await onBackend('cpu', () =>
    tf.tidy(() => {
      const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
      const g = tf
        .grad((t: T) => tf.sum(tf.avgPool(t as tf.Tensor4D, 3, 1, 1)))(x)
        .dataSync();
      expect(g[0]).toBeCloseTo(1 / 4 + 1 / 6 + 1 / 6 + 1 / 9, 6);
      expect(g[4]).toBeCloseTo((1 / 4) * 4 + (1 / 6) * 4 + 1 / 9, 6);
    }),
  );
});
