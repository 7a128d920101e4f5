import { initBackend, tf } from '../src/core/backend';
import { initialWeights } from '../src/core/compute';
import { taskLoss, targetTensor } from '../src/core/loss';
import { grad, grads, gradients } from '../src/core/nn/backprop';
import { traceShapes } from '../src/core/nn/shape';
import { TensorOps } from '../src/core/nn/tensor';
import { Rng } from '../src/core/rng';
import { tinyNetwork } from './helpers/tiny-network';

/**
 * nn/backprop.ts frees each node's saved tensors and its outputs' gradients as soon as the node is
 * differentiated. It must give tf.grads' results bit for bit and hold less at its peak, on a network
 * of every op kind the core differentiates.
 */
beforeAll(async () => {
  await initBackend('wasm');
});

function setup() {
  const rng = new Rng(3);
  const weights = initialWeights(traceShapes(tinyNetwork, 1).params, tinyNetwork.init, rng);
  const x = tf.tensor4d(
    Float32Array.from({ length: 4 * 8 * 8 * 3 }, () => rng.normal()),
    [4, 8, 8, 3],
  );
  const target = targetTensor({ kind: 'class', labels: Int32Array.from([0, 1, 2, 3]) }, 5);
  const loss = () => taskLoss('ce', tinyNetwork.forward(new TensorOps((n) => weights.get(n)!), x), target);
  return { weights, x, target, loss, dispose: () => tf.dispose([...weights.values(), x, target.values]) };
}

test('the gradients of a network equal tf.grads bit for bit, and nothing leaks', () => {
  const { weights, loss, dispose } = setup();
  const ws = [...weights.values()];
  const expected = tf.grads(loss)(ws);
  const before = tf.memory().numTensors;
  const got = grads(loss, ws);
  expect(tf.memory().numTensors).toBe(before + got.length);
  got.forEach((g, i) => expect(Array.from(g.dataSync())).toEqual(Array.from(expected[i]!.dataSync())));
  tf.dispose([...got, ...expected]);
  dispose();
});

test("a backward's peak holds less than tf.grads' (saved tensors and gradients freed as it goes)", async () => {
  const { weights, loss, dispose } = setup();
  const ws = [...weights.values()];
  const peak = async (run: () => tf.Tensor[]) => (await tf.profile(() => run())).peakBytes;
  const ours = await peak(() => grads(loss, ws));
  const theirs = await peak(() => tf.grads(loss)(ws));
  expect(ours).toBeLessThan(0.9 * theirs);
  dispose();
});

test('the caller keeps its dy, an x used twice sums its gradients, identity gradients survive', () => {
  const x = tf.tensor1d([1, 2, 3]);
  const dy = tf.tensor1d([1, 10, 100]);
  const {
    value,
    grads: [g],
  } = gradients(() => tf.add(tf.mul(x, x), tf.reshape(x, [3])), [x], dy);
  expect(Array.from(g!.dataSync())).toEqual([3, 50, 700]);
  expect(dy.isDisposed).toBe(false);
  expect(Array.from(grad((t) => tf.sum(tf.reshape(t, [3, 1])), x).dataSync())).toEqual([1, 1, 1]);
  tf.dispose([x, dy, value, g!]);
});

test('inside a higher-order gradient nothing is freed early: d²/dx² x³ = 6x', () => {
  const x = tf.tensor1d([1, 2]);
  const second = tf.grad((t: tf.Tensor) => tf.sum(grad((u) => tf.sum(tf.pow(u, 3)), t)))(x);
  expect(Array.from(second.dataSync())).toEqual([6, 12]);
  tf.dispose([x, second]);
});

test('an x f does not reach is an error naming it, unless allowed', () => {
  const x = tf.scalar(1);
  const y = tf.scalar(2);
  expect(() => grads(() => tf.mul(y, 3), [x])).toThrow(/f must enclose every op from x to y/);
  const { value, grads: g } = gradients(() => tf.mul(y, 3), [x], undefined, true);
  expect(g[0]).toBeUndefined();
  tf.dispose([x, y, value]);
});
