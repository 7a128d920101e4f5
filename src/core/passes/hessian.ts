import { tf } from '../backend';
import { lossTangent } from '../loss';
import { grads } from '../nn/backprop';
import { shardFraction, shardSumAll } from '../nn/batch-shard';
import { LayerCache } from '../nn/replay';
import { TangentOps, type Dual } from '../nn/tangent';
import { gradient } from './gradient';
import { definePass } from './pass';
import type { Passes } from './passes';

/**
 * H·g for grasp: the reverse-mode gradient of L's directional derivative along g, computed by a
 * forward-mode (dual) pass (TangentOps). Exact, like NASLib's double backward, in far less memory.
 */
export const hessian = definePass({
  name: 'hessian',
  dependencies: [gradient],
  // Measured (engine peak, nn/backprop.ts freeing as it goes; TNB-micro class_scene b4–8, autoencoder
  // b2–4): 3.5–3.6 activation copies; recomputing, 3.6 boundary and 3.9 segment copies. The loss's
  // tangent and its gradients (lossTangent) 10.1 output copies for the pixel-wise cross-entropy, 8.0
  // for L1 and MSE (before freeing: an upper bound). A recomputing hessian keeps its tangent
  // convolutions too: one more layer cache.
  memory: { activation: 4.5, boundary: 5, segment: 5, loss: 10.5, recomputingCache: 1 },
  recomputable: true,
  cached: true,
  forwardOnly: false,
  shardable: true,
  run: hessianVector,
  dispose: (result) => {
    for (const t of result.values()) t.dispose();
  },
});

function hessianVector(passes: Passes): Map<string, tf.Tensor> {
  const g = passes.get(gradient).grads;
  const { net, x, target, loss, shard } = passes.inputs;
  const prunable = passes.prunableParams;
  const ws = prunable.map((p) => passes.lookup(p.name));
  const segments = passes.segmentsFor('hessian');
  // A recomputing pass keeps its tangent convolutions for the recomputation (only convolutions run again).
  const tangents = segments && passes.layers ? new LayerCache() : undefined;
  try {
    const hg = grads(() => {
      const input: Dual = { v: x, t: null };
      const out = net.forward(new TangentOps(passes.lookup, (name) => g.get(name), segments, { values: passes.layers, tangents, shard }), input);
      // L̇ = ⟨∂L/∂z, ż⟩ (no tangent reaches the output: L̇ = 0); a shard's part of it, as the loss.
      const tangent = out.t ? lossTangent(loss, out.v, out.t, target) : tf.mul(tf.sum(out.v), 0);
      return shard ? tf.mul(tangent, shardFraction(shard)) : tangent;
    }, ws);
    const whole = shard ? shardSumAll(shard, hg) : hg;
    return new Map(prunable.map((p, i) => [p.name, whole[i]!]));
  } finally {
    tangents?.dispose();
  }
}
