import { tf } from '../backend';
import { grads } from '../nn/backprop';
import { SynflowOps, type ScaledTensor } from '../nn/synflow';
import { build } from '../passes/build';
import { definePass, NO_MEMORY } from '../passes/pass';
import type { Passes } from '../passes/passes';
import { sanitize, type ProxyDefinition } from './proxy';

/**
 * SynFlow: Σ|θ ⊙ ∂R/∂θ| with R = Σ f(1) on |θ| without batch norm, one all-ones image. The raw
 * value reaches e^165, beyond float32 and close to what float64 prints, so it is carried as
 * exp(logScale) · sum and the score (ln raw, 0 stays 0) is formed in log space
 * (docs/proxies.md §3.9). Its pass is its own, so it lives here.
 */
export const synflow: ProxyDefinition = {
  name: 'synflow',
  passes: ['synflow'],
  reads: 'weights',
  raw: ({ passes }) => {
    const { logScale, sum } = passes.get(synflowPass);
    return sum === 0 ? 0 : Math.exp(logScale) * sum;
  },
  score: ({ passes }) => {
    const { logScale, sum } = passes.get(synflowPass);
    if (!Number.isFinite(sum) || !Number.isFinite(logScale)) return -Math.log(1e8); // NaN → −1e8, then logged
    if (sum === 0) return 0;
    return sanitize(logScale + Math.log(sum));
  },
};

/** synflow as ln-scale and sum: raw = exp(logScale) · sum, on |θ|, no batch norm, a batch-1 ones input. */
export const synflowPass = definePass({
  name: 'synflow',
  dependencies: [build],
  // One all-ones image: negligible next to the other passes' batches.
  memory: NO_MEMORY,
  recomputable: false,
  cached: false,
  forwardOnly: false,
  run: scaledSynflow,
});

function scaledSynflow(passes: Passes): { logScale: number; sum: number } {
  const { net } = passes.inputs;
  const abs = new Map<string, tf.Tensor>();
  for (const [name, t] of passes.weights) abs.set(name, tf.abs(t));
  const ones = tf.ones([1, ...net.inputShape]);
  const modules = passes.prunableParams.map((p) => p.module);
  const probes = new Map(modules.map((m) => [m, tf.scalar(0)]));
  let outScale = 0;
  const ops = new SynflowOps((name) => abs.get(name)!, probes);
  const probeGrads = grads(
    () => {
      const out = net.forward(ops, { t: ones, logScale: 0 } as ScaledTensor);
      outScale = Number.isFinite(out.logScale) ? out.logScale : 0;
      return tf.sum(out.t);
    },
    modules.map((m) => probes.get(m)!),
  );
  let sum = 0;
  for (const g of probeGrads) sum += g.dataSync()[0]!;
  for (const t of [...abs.values(), ...probes.values(), ...probeGrads, ones]) t.dispose();
  return { logScale: outScale, sum };
}
