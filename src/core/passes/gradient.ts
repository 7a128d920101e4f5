import { tf } from '../backend';
import { taskLoss } from '../loss';
import { grads } from '../nn/backprop';
import { shardFraction, shardSumAll, type BatchShard } from '../nn/batch-shard';
import { TensorOps } from '../nn/tensor';
import { build } from './build';
import { data } from './data';
import { definePass } from './pass';
import type { Passes } from './passes';

export interface GradientResult {
  /** ∂L/∂W_l per prunable weight name. */
  grads: Map<string, tf.Tensor>;
  /** fisher's Σ_k F_{l,k} · fan_in per prunable module. */
  fisher: Map<string, number>;
}

/**
 * Forward + backward of the loss w.r.t. the prunable weights, with zero probes on the layer
 * outputs: g_l (grad_norm, snip, plain, grasp's g) and fisher's per-layer saliency.
 */
export const gradient = definePass({
  name: 'gradient',
  dependencies: [build, data],
  // Measured (engine peak, nn/backprop.ts freeing as it goes): 1.9–2.0 activation copies; recomputing,
  // 2.0 boundary and 1.7 segment copies (TNB-micro class_scene b4–8, autoencoder b2–4); the pixel-wise
  // cross-entropy 12.8 output copies, L1 7 (before freeing: an upper bound).
  memory: { activation: 2.5, boundary: 2.6, segment: 2.5, loss: 13 },
  recomputable: true,
  cached: true,
  forwardOnly: false,
  shardable: true,
  run: lossGradient,
  dispose: (result) => {
    for (const t of result.grads.values()) t.dispose();
  },
});

function lossGradient(passes: Passes): GradientResult {
  const { net, x, target, loss, shard } = passes.inputs;
  const prunable = passes.prunableParams;
  const { layerShapes, layerCalls } = passes.batchTrace();
  const modules = prunable.map((p) => p.module);
  // One probe per module call: fisher's saliency of a layer sums over its calls (jigsaw's 9 tiles),
  // as NASLib's hook accumulates per call.
  const probes = new Map(modules.map((m) => [m, Array.from({ length: layerCalls.get(m)! }, () => tf.zeros(gainShape(layerShapes.get(m)!)))]));
  const weightTensors = prunable.map((p) => passes.lookup(p.name));
  const segments = passes.segmentsFor('gradient');
  const all = grads(() => {
    const ops = new TensorOps(passes.lookup, { probes }, segments, { cache: passes.layers, shard });
    // A shard's part of the batch mean: the shards' parts sum to the whole batch's loss.
    const value = taskLoss(loss, net.forward(ops, x), target);
    return shard ? tf.mul(value, shardFraction(shard)) : value;
  }, [...weightTensors, ...modules.flatMap((m) => probes.get(m)!)]);
  const weightGrads = shard ? shardSumAll(shard, all.slice(0, prunable.length)) : all.slice(0, prunable.length);
  const saliencies: number[] = [];
  let next = prunable.length;
  prunable.forEach((p) => {
    let saliency = 0;
    for (let c = 0; c < probes.get(p.module)!.length; c++) {
      const s = all[next++]!;
      saliency += fisherSaliency(s, shard);
      s.dispose();
    }
    saliencies.push(saliency);
  });
  const total = shard ? shard.sum(saliencies) : saliencies;
  const out: GradientResult = { grads: new Map(), fisher: new Map() };
  prunable.forEach((p, i) => {
    out.grads.set(p.name, weightGrads[i]!);
    out.fisher.set(p.module, p.fanIn * total[i]!);
  });
  for (const list of probes.values()) for (const t of list) t.dispose();
  return out;
}

/** Shape of fisher's gain on a layer output: one per sample and channel. */
function gainShape(outputShape: number[]): number[] {
  return outputShape.length === 4 ? [outputShape[0]!, 1, 1, outputShape[3]!] : outputShape;
}

/**
 * fisher's Σ_k ½·mean_n(s_{n,k})², s_{n,k} = Σ_{h,w} A·∂L/∂A (the gradient of the layer's gain); on a
 * shard, its samples' part of it (Σ over its n, divided by the whole batch's size).
 */
function fisherSaliency(s: tf.Tensor, shard?: BatchShard): number {
  return tf.tidy(() => {
    const squares = tf.square(tf.reshape(s, [s.shape[0]!, -1]));
    const mean = shard ? tf.div(tf.sum(squares, 0), shard.batchSize) : tf.mean(squares, 0);
    return tf.sum(tf.mul(mean, 0.5)).dataSync()[0]!;
  });
}
