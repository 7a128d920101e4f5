import { initBackend, tf } from '../src/core/backend';
import { initialWeights } from '../src/core/compute';
import { lossTangent, taskLoss, targetTensor } from '../src/core/loss';
import { dualBatchNorm } from '../src/core/nn/batch-norm';
import type { Target } from '../src/core/types';
import { traceShapes } from '../src/core/nn/shape';
import { TangentOps } from '../src/core/nn/tangent';
import { TensorOps } from '../src/core/nn/tensor';
import { gradient, hessian, Passes } from '../src/core/passes';
import { Rng } from '../src/core/rng';
import { tinyNetwork } from './helpers/tiny-network';

/**
 * grasp's H·g comes from a forward-mode tangent pass followed by reverse mode. Check it against the
 * textbook double backward (nested tf.grads, NASLib's autograd.grad(create_graph=True) route) on
 * tinyNetwork (every op kind with a second-derivative path).
 */

test.each(['cpu', 'wasm'] as const)('tangent H·g equals nested-autodiff H·g (%s)', async (backend) => {
  await initBackend(backend);
  const trace = traceShapes(tinyNetwork);
  const weights = initialWeights(trace.params, 'torch', new Rng(7));
  const x = tf.randomNormal([6, 8, 8, 3], 0, 1, 'float32', 11);
  const target = targetTensor({ kind: 'class', labels: Int32Array.from([0, 1, 2, 3, 4, 1]) }, 5);
  const passes = new Passes({
    net: tinyNetwork,
    loss: 'ce',
    weights,
    params: trace.params,
    batchNorms: [],
    x,
    target,
    zenDraws: () => {
      throw new Error('unused');
    },
  });
  const tangent = passes.get(hessian);
  const prunable = trace.params.filter((p) => p.prunable);
  const g = passes.get(gradient).grads;
  const ws = prunable.map((p) => weights.get(p.name)!);
  const lookup = (n: string) => weights.get(n)!;
  const nested = tf.grads(() => {
    const inner = tf.grads(() => taskLoss('ce', tinyNetwork.forward(new TensorOps(lookup, {}, undefined, { secondOrder: true }), x), target))(ws);
    return tf.addN(inner.map((gi, i) => tf.sum(tf.mul(g.get(prunable[i]!.name)!, gi))));
  })(ws);
  prunable.forEach((p, i) => {
    const a = tangent.get(p.name)!.dataSync();
    const b = nested[i]!.dataSync();
    const scale = Math.max(...Array.from(b, Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (let k = 0; k < a.length; k++) expect(Math.abs(a[k]! - b[k]!)).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
  });
  passes.dispose();
  for (const t of [...weights.values(), x, target.values, ...nested]) t.dispose();
});

/** lossTangent's closed-form gradients against autodiff of autodiff, for every loss kind a task uses. */
test.each([
  ['ce', [6, 5], { kind: 'class', labels: Int32Array.from([0, 1, 2, 3, 4, 1]) }],
  ['pixel_ce', [2, 3, 4, 5], { kind: 'pixel_class', labels: Int32Array.from({ length: 24 }, (_, i) => (i * 7) % 5), shape: [2, 3, 4] }],
  ['soft_ce', [4, 5], { kind: 'soft', probs: Float32Array.from({ length: 20 }, (_, i) => [0.1, 0.2, 0.3, 0.15, 0.25][i % 5]!), classes: 5 }],
  ['mse', [4, 9], { kind: 'dense', values: Float32Array.from({ length: 36 }, (_, i) => Math.sin(i)), shape: [4, 9] }],
  ['l1', [2, 3, 3, 3], { kind: 'dense', values: Float32Array.from({ length: 54 }, (_, i) => Math.cos(i)), shape: [2, 3, 3, 3] }],
] as const)('lossTangent (%s): value and both gradients equal nested autodiff', async (kind, shape, t) => {
  await initBackend('cpu');
  const target = targetTensor(t as Target, shape[shape.length - 1]!);
  const z = tf.randomNormal([...shape], 0, 1, 'float32', 3);
  const zdot = tf.randomNormal([...shape], 0, 1, 'float32', 4);
  const closed = tf.grads((a: tf.Tensor, b: tf.Tensor) => lossTangent(kind, a, b, target))([z, zdot]);
  const nested = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.grad((o: tf.Tensor) => taskLoss(kind, o, target))(a), b)))([z, zdot]);
  const value = lossTangent(kind, z, zdot, target).dataSync()[0]!;
  const reference = tf.sum(tf.mul(tf.grad((o: tf.Tensor) => taskLoss(kind, o, target))(z), zdot)).dataSync()[0]!;
  expect(Math.abs(value - reference)).toBeLessThanOrEqual(1e-6 * Math.abs(reference) + 1e-7);
  closed.forEach((c, i) => {
    const a = c.dataSync();
    const b = nested[i]!.dataSync();
    const scale = Math.max(1e-6, ...Array.from(b, Math.abs));
    for (let k = 0; k < a.length; k++) expect(Math.abs(a[k]! - b[k]!)).toBeLessThanOrEqual(1e-5 * scale);
  });
  tf.dispose([z, zdot, target.values, ...closed, ...nested]);
});

/** Each gradient equals its reference within 2e-5 of the reference's largest magnitude (which is not zero). */
function expectGradientsClose(got: tf.Tensor[], reference: tf.Tensor[]): void {
  got.forEach((g, i) => {
    const a = g.dataSync();
    const b = reference[i]!.dataSync();
    const scale = Math.max(...Array.from(b, Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (let k = 0; k < a.length; k++) expect(Math.abs(a[k]! - b[k]!)).toBeLessThanOrEqual(2e-5 * scale);
  });
}

/** dualBatchNorm's written-out VJP against autodiff of the same formula, for every input. */
test.each([true, false])('dualBatchNorm (affine %s): values bit for bit, gradients of x, ẋ, γ, β equal autodiff', async (affine) => {
  await initBackend('cpu');
  const shape = [3, 4, 5, 6];
  const [x, xt, gv, gt] = [1, 2, 3, 4].map((seed) => tf.randomNormal(shape, 0.3, 1.2, 'float32', seed));
  const gamma = affine ? tf.randomUniform([6], 0.5, 1.5, 'float32', 5) : null;
  const beta = affine ? tf.randomNormal([6], 0, 1, 'float32', 6) : null;
  const formula = (a: tf.Tensor, b: tf.Tensor, g: tf.Tensor | null, bb: tf.Tensor | null): [tf.Tensor, tf.Tensor] => {
    const mean = (z: tf.Tensor) => tf.mean(tf.mean(z, [1, 2]), 0);
    const c = tf.sub(a, mean(a));
    const s = tf.add(mean(tf.square(c)), 1e-5);
    const f = g ? tf.mul(tf.rsqrt(s), g) : tf.rsqrt(s);
    const y = tf.mul(c, f);
    const t = tf.sub(tf.mul(tf.sub(b, mean(b)), f), tf.mul(c, tf.mul(f, tf.div(mean(tf.mul(c, b)), s))));
    return [bb ? tf.add(y, bb) : y, t];
  };
  const args = [x, xt, ...(affine ? [gamma!, beta!] : [])];
  const objective =
    (fn: typeof formula) =>
    (...as: tf.Tensor[]) => {
      const [v, t] = fn(as[0]!, as[1]!, affine ? as[2]! : null, affine ? as[3]! : null);
      return tf.add(tf.sum(tf.mul(v, gv)), tf.sum(tf.mul(t, gt)));
    };
  const [v1, t1] = dualBatchNorm(x, xt, gamma, beta, 1e-5);
  const [v0, t0] = formula(x, xt, gamma, beta);
  expect(Buffer.from(v1.dataSync().buffer).equals(Buffer.from(v0.dataSync().buffer))).toBe(true);
  expect(Buffer.from(t1.dataSync().buffer).equals(Buffer.from(t0.dataSync().buffer))).toBe(true);
  const fused = tf.grads(objective((a, b, g, bb) => dualBatchNorm(a, b, g, bb, 1e-5)))(args);
  const reference = tf.grads(objective(formula))(args);
  expectGradientsClose(fused, reference);
  tf.dispose([x, xt, gv, gt, v1, t1, v0, t0, ...fused, ...reference, ...(affine ? [gamma!, beta!] : [])]);
});

/** batchNormNode's written-out backward against autodiff of TensorOps' plain batch norm. */
test.each([true, false])('batchNormNode (affine %s): value bit for bit, gradients of x, γ, β equal autodiff', async (affine) => {
  await initBackend('cpu');
  const spec = { name: 'bn', channels: 6, affine };
  const [x, gv] = [1, 3].map((seed) => tf.randomNormal([3, 4, 5, 6], 0.3, 1.2, 'float32', seed));
  const params = new Map([
    ['bn.weight', tf.randomUniform([6], 0.5, 1.5, 'float32', 5)],
    ['bn.bias', tf.randomNormal([6], 0, 1, 'float32', 6)],
  ]);
  const args = [x, ...(affine ? [params.get('bn.weight')!, params.get('bn.bias')!] : [])];
  const objective =
    (secondOrder: boolean) =>
    (...as: tf.Tensor[]) => {
      const lookup = (n: string) => (n === 'bn.weight' ? as[1]! : as[2]!);
      return tf.sum(tf.mul(new TensorOps(lookup, {}, undefined, { secondOrder }).batchNorm(as[0]!, spec), gv));
    };
  const value = (secondOrder: boolean) => new TensorOps((n) => params.get(n)!, {}, undefined, { secondOrder }).batchNorm(x, spec).dataSync();
  expect(Buffer.from(value(false).buffer).equals(Buffer.from(value(true).buffer))).toBe(true);
  const node = tf.grads(objective(false))(args);
  const reference = tf.grads(objective(true))(args);
  expectGradientsClose(node, reference);
  tf.dispose([x, gv, ...params.values(), ...node, ...reference]);
});

/** The dual (leaky) ReLU node against autodiff of its formula: value and tangent bit for bit, gradients equal. */
test.each([0, 0.2])('dual activation (α = %s): v and ṫ bit for bit, gradients of x and ẋ equal autodiff', async (alpha) => {
  await initBackend('cpu');
  const [x, xt, gv, gt] = [1, 2, 3, 4].map((seed) => tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', seed));
  const x0 = tf.concat([x, tf.zeros([1, 3, 4, 5])]); // ReLU′(0) = 0
  const xt0 = tf.concat([xt, tf.ones([1, 3, 4, 5])]);
  const [gv0, gt0] = [gv, gt].map((g) => tf.concat([g, tf.ones([1, 3, 4, 5])]));
  const ops = new TangentOps(
    () => tf.scalar(0),
    () => undefined,
  );
  const node = (a: tf.Tensor, b: tf.Tensor) => (alpha === 0 ? ops.relu({ v: a, t: b }) : ops.leakyRelu({ v: a, t: b }, 'r', alpha));
  const formula = (a: tf.Tensor, b: tf.Tensor) => {
    const slope = tf.where(tf.greater(a, 0), tf.onesLike(a), tf.mul(tf.onesLike(a), alpha));
    return { v: alpha === 0 ? tf.relu(a) : tf.leakyRelu(a, alpha), t: tf.mul(b, slope) };
  };
  const same = (p: tf.Tensor, q: tf.Tensor) => Buffer.from(p.dataSync().buffer).equals(Buffer.from(q.dataSync().buffer));
  const [n, f] = [node(x0, xt0), formula(x0, xt0)];
  expect([same(n.v, f.v), same(n.t!, f.t)]).toEqual([true, true]);
  const objective = (fn: typeof formula) => (a: tf.Tensor, b: tf.Tensor) => {
    const d = fn(a, b);
    return tf.add(tf.sum(tf.mul(d.v, gv0)), tf.sum(tf.mul(d.t!, gt0)));
  };
  const got = tf.grads(objective(node as typeof formula))([x0, xt0]);
  const want = tf.grads(objective(formula))([x0, xt0]);
  // Equal as numbers (autodiff adds the masks' zero gradients, turning a −0 into +0).
  got.forEach((g, i) => expect(tf.max(tf.abs(tf.sub(g, want[i]!))).dataSync()[0]).toBe(0));
});
