import { initBackend, tf } from '../src/core/backend';
import { initialWeights } from '../src/core/compute';
import { taskLoss, targetTensor } from '../src/core/loss';
import type { NetworkDef, Ops } from '../src/core/nn/ops';
import { traceShapes } from '../src/core/nn/shape';
import { gradient, Passes } from '../src/core/passes';
import { Rng } from '../src/core/rng';

/**
 * A module called several times (jigsaw runs its encoder on 9 tiles) gets one fisher probe per
 * call: its saliency is Σ_calls Σ_k ½·mean_n(s_{n,k})², as NASLib's hook accumulates per call —
 * not the square of the summed products. Checked against the definition written out by hand.
 */
const shared: NetworkDef = {
  init: 'torch',
  inputShape: [2, 6, 6, 3],
  outputs: 4,
  forward<T>(ops: Ops<T>, x: T): T {
    const conv = (t: T) => ops.relu(ops.conv(t, { name: 'enc', inChannels: 3, outChannels: 5, kernel: 3, padding: 1, bias: true }), 'act');
    // The second call sits inside a segment: its probe must still be the second one.
    const parts = [
      conv(ops.tile(x, 0)),
      ops.segment('tile1', [ops.tile(x, 1)], (o, [t]) =>
        o.relu(o.conv(t!, { name: 'enc', inChannels: 3, outChannels: 5, kernel: 3, padding: 1, bias: true }), 'act'),
      ),
    ];
    return ops.linear(ops.globalAvgPool(ops.feature(ops.concat(parts)), 'gap'), { name: 'fc', inFeatures: 10, outFeatures: 4 });
  },
};

test.each([false, true])('fisher sums per-call saliencies of a shared layer (segments recomputed: %s)', async (recompute) => {
  await initBackend('wasm');
  const trace = traceShapes(shared);
  const weights = initialWeights(trace.params, 'torch', new Rng(3));
  const x = tf.randomNormal([4, 2, 6, 6, 3], 0, 1, 'float32', 5);
  const target = targetTensor({ kind: 'class', labels: Int32Array.from([0, 3, 1, 2]) }, 4);
  const passes = new Passes({
    net: shared,
    loss: 'ce',
    weights,
    params: trace.params,
    batchNorms: [],
    x,
    target,
    zenDraws: () => {
      throw new Error('unused');
    },
    recomputed: recompute ? new Set(['gradient']) : undefined,
  });
  const fisher = passes.get(gradient).fisher;

  // By hand: A_t = conv(tile t) + b, G_t = ∂L/∂A_t, s_t = Σ_{h,w} A_t·G_t.
  const w = weights.get('enc.weight')!;
  const b = weights.get('enc.bias')!;
  const tiles = [0, 1].map((t) => tf.reshape(tf.slice(x, [0, t, 0, 0, 0], [-1, 1, -1, -1, -1]), [4, 6, 6, 3]) as tf.Tensor4D);
  const raws = tiles.map((t) =>
    tf.add(
      tf.conv2d(t, w as tf.Tensor4D, 1, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]),
      b,
    ),
  );
  const head = (a0: tf.Tensor, a1: tf.Tensor) => {
    const pooled = tf.mean(tf.concat([tf.relu(a0), tf.relu(a1)], 3), [1, 2]);
    return taskLoss('ce', tf.add(tf.matMul(pooled as tf.Tensor2D, weights.get('fc.weight') as tf.Tensor2D), weights.get('fc.bias')!), target);
  };
  const grads = tf.grads(head)(raws);
  let expected = 0;
  for (let t = 0; t < 2; t++) {
    const s = tf.sum(tf.mul(raws[t]!, grads[t]!), [1, 2]); // [N, C]
    expected += tf.sum(tf.mul(tf.mean(tf.square(s), 0), 0.5)).dataSync()[0]!;
  }
  expected *= 3 * 3 * 3; // fan_in
  expect(fisher.get('enc')!).toBeGreaterThan(0);
  expect(Math.abs(fisher.get('enc')! - expected)).toBeLessThanOrEqual(1e-4 * expected);
  passes.dispose();
});
