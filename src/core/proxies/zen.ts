import { tf } from '../backend';
import type { ShapeOps } from '../nn/shape';
import { TensorOps } from '../nn/tensor';
import { build } from '../passes/build';
import { definePass } from '../passes/pass';
import type { Passes, ZenDraws } from '../passes/passes';
import type { Rng } from '../rng';
import type { ProxyDefinition } from './proxy';

/**
 * Zen-NAS: weights re-drawn N(0, 1) (biases 0, batch norm γ = 1, β = 0), two Gaussian inputs
 * x and x + 0.01·ε; ln mean_n Σ|Φ(x) − Φ(x + 0.01ε)| + Σ_bn ln √mean(running_var) after both passes
 * (docs/proxies.md §3.10). Its pass is its own, so it lives here.
 */
export const zen: ProxyDefinition = {
  name: 'zen',
  passes: ['zen'],
  // Its own draws, in the minibatch's shape: no minibatch values.
  reads: 'weights',
  raw: ({ passes }) => {
    const { logDelta, bnLogRho } = passes.get(zenPass);
    return logDelta + bnLogRho;
  },
};

/** zen's draws: N(0,1) conv/linear weights, then its Gaussian input and mixup noise, each its own stream. */
export function drawZen(trace: ShapeOps, inputShape: number[], rng: Rng): ZenDraws {
  const weights = new Map<string, tf.Tensor>();
  for (const p of trace.params) {
    if (!p.prunable) continue;
    const values = rng.fork(`zen/weight/${p.name}`).fillNormal(new Float32Array(p.shape.reduce((a, b) => a * b, 1)));
    weights.set(p.name, tf.tensor(values, p.shape));
  }
  const size = inputShape.reduce((a, b) => a * b, 1);
  const input = tf.tensor(rng.fork('zen/input').fillNormal(new Float32Array(size)), inputShape);
  const noise = tf.tensor(rng.fork('zen/noise').fillNormal(new Float32Array(size)), inputShape);
  return { weights, input, noise };
}

/** zen's Δ and batch-norm term, on its own N(0,1) weights and noise inputs. */
export const zenPass = definePass({
  name: 'zen',
  dependencies: [build],
  // Boundary copies as measured (peak RSS): TNB-macro (1, 4, 2, 1, 2) at batch 32 holds 1.8.
  memory: { activation: 2.2, boundary: 1.8, segment: 2.2, loss: 0 },
  recomputable: false,
  cached: false,
  forwardOnly: true,
  shardable: true,
  run: zenScore,
});

function zenScore(passes: Passes): { logDelta: number; bnLogRho: number } {
  const { shard } = passes.inputs;
  // On a shard: its samples of the inputs, and batch norm's variances over every shard's.
  const draws = passes.inputs.zenDraws();
  const constants = new Map<string, tf.Tensor>();
  const zenParams = (name: string): tf.Tensor => draws.weights.get(name) ?? reinitialisedConstant(passes, constants, name);
  const running = new Map<string, Float64Array>();
  const momentum = new Map(passes.inputs.batchNorms.map((b) => [b.name, b.momentum ?? 0.1]));
  const onBatchNormVariance = (name: string, variance: tf.Tensor, count: number) => {
    const v = variance.dataSync();
    let r = running.get(name);
    if (!r) running.set(name, (r = new Float64Array(v.length).fill(1)));
    // PyTorch's running variance update with the unbiased batch variance, at the module's
    // momentum (0.1; TNB-macro's shortcut BNs were built with 1).
    const m = momentum.get(name) ?? 0.1;
    for (let c = 0; c < v.length; c++) r[c] = (1 - m) * r[c]! + m * v[c]! * (count / (count - 1));
  };
  try {
    const delta = tf.tidy(() => {
      const mixed = tf.add(draws.input, tf.mul(draws.noise, tf.scalar(0.01)));
      const features = [draws.input, mixed].map((input) => {
        const ops = new TensorOps(zenParams, { onBatchNormVariance }, undefined, { shard });
        passes.inputs.net.forward(ops, input);
        return ops.featureMap!;
      });
      const perSample = tf.sum(tf.abs(tf.sub(features[0]!, features[1]!)), [1, 2, 3]);
      if (!shard) return tf.mean(perSample).dataSync()[0]!;
      return shard.sum(tf.sum(perSample).dataSync())[0]! / shard.batchSize;
    });
    let bnLogRho = 0;
    for (const { name } of passes.inputs.batchNorms) {
      const r = running.get(name);
      if (!r) continue; // never ran: running variance stays 1, ln √1 = 0
      let mean = 0;
      for (const v of r) mean += v;
      bnLogRho += Math.log(Math.sqrt(mean / r.length));
    }
    return { logDelta: Math.log(delta), bnLogRho };
  } finally {
    for (const t of constants.values()) t.dispose();
  }
}

/**
 * zen (and az_nas) set conv/linear biases to 0 and batch norms to γ = 1, β = 0; modules they do not
 * re-initialise (ConvTranspose2d) keep their weights. Kept: first asked for inside an op's tidy.
 */
export function reinitialisedConstant(passes: Passes, constants: Map<string, tf.Tensor>, name: string): tf.Tensor {
  let t = constants.get(name);
  if (t) return t;
  const spec = passes.inputs.params.find((p) => p.name === name);
  if (!spec) throw new Error(`no parameter ${name}`);
  if (spec.kind === 'conv_transpose' || spec.kind === 'conv_transpose_bias') return passes.lookup(name);
  t = tf.keep(spec.kind === 'bn_gamma' ? tf.ones(spec.shape) : tf.zeros(spec.shape));
  constants.set(name, t);
  return t;
}
