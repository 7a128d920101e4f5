import { tf } from '../backend';
import { runCustomNode } from '../kernels/util';
import { channelCount, shardSum, type BatchShard } from './batch-shard';

/**
 * Input centred on its per-channel batch mean, and the biased variance over N, H, W. Two passes (centre, then average the
 * squares), each a mean over H·W per sample followed by a mean over the batch: float32 sums that
 * short keep the statistics accurate enough to reproduce NASLib's ReLU signs (the fixtures).
 * With a `shard`, the means are over the whole minibatch (every shard's samples).
 */
export function batchStatistics(x: tf.Tensor, shard?: BatchShard): { centred: tf.Tensor; variance: tf.Tensor } {
  const centred = tf.sub(x, batchMean(x, shard));
  return { centred, variance: batchMean(tf.square(centred), shard) };
}

/** Per-channel mean over N, H, W, as a mean over H·W per sample then over the batch (every shard's). */
export function batchMean(x: tf.Tensor, shard?: BatchShard): tf.Tensor {
  if (!shard) return tf.mean(tf.mean(x, [1, 2]), 0);
  return tf.div(shardSum(shard, tf.sum(tf.mean(x, [1, 2]), 0)), shard.batchSize);
}

/** Per-channel sum over N, H, W (the axes batch statistics reduce), over every shard. */
const channelSum = (x: tf.Tensor, shard?: BatchShard): tf.Tensor => (shard ? shardSum(shard, tf.sum(x, [0, 1, 2])) : tf.sum(x, [0, 1, 2]));

/**
 * Training-mode batch norm as one tape node with its backward written out (per channel, n elements):
 *   x_c = x − μ,  s = var + ε,  r = s^−½,  f = γ·r (r without affine),  v = x_c·f + β
 *   ∂x = G − mean G,  G = g·f + 2·x_c·∂s/n,  ∂s = −½·r³·∂r,  ∂r = Σ(g·x_c)·(γ or 1),  ∂γ = Σ(g·x_c)·r,  ∂β = Σ g
 * The value is the same ops as autodiff's route, bit for bit. First order only: a node's saved
 * tensors are not differentiable again, so nested tf.grads (the Hessian tests' reference) use
 * TensorOps' `secondOrder` option, which keeps batch norm as plain ops.
 */
export function batchNormNode(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, eps: number, shard?: BatchShard): tf.Tensor {
  const inputs: Record<string, tf.Tensor> = { x, ...(gamma ? { gamma } : {}), ...(beta ? { beta } : {}) };
  const [v] = runCustomNode({
    inputs,
    forwardFunc: (_backend, save) => {
      const { centred, variance } = batchStatistics(x, shard);
      const r = tf.rsqrt(tf.add(variance, eps));
      const f = gamma ? tf.mul(r, gamma) : r;
      const y = tf.mul(centred, f);
      save([centred, r, f]);
      return beta ? tf.add(y, beta) : y;
    },
    backwardsFunc: (dy, saved) => {
      const g = dy as tf.Tensor;
      const [xc, r, f] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const n = channelCount(xc, shard);
      const gf = tf.tidy(() => channelSum(tf.mul(g, xc), shard));
      return {
        x: () =>
          tf.tidy(() => {
            const gr = gamma ? tf.mul(gf, tf.div(f, r)) : gf;
            const gs = tf.mul(gr, tf.mul(tf.pow(r, 3), -0.5));
            const gxc = tf.add(tf.mul(g, f), tf.mul(xc, tf.div(tf.mul(gs, 2), n)));
            return tf.sub(gxc, batchMean(gxc, shard));
          }),
        gamma: () => tf.mul(gf, r),
        beta: () => channelSum(g, shard),
      };
    },
  });
  return v!;
}

/**
 * Training-mode batch norm of a dual number (value x, tangent ẋ) as one tape node with its
 * vector-Jacobian product written out. Per channel, over its n elements:
 *   x_c = x − μ,  s = var + ε,  r = s^−½,  f = γ·r (r without affine),  v = x_c·f + β
 *   t = f·(ẋ − mean ẋ) − a·x_c,  a = f·m/s,  m = mean(x_c·ẋ)
 * Autodiff of these ops kept ~8 full-size tensors per batch norm for the backward and ran ~25
 * full-size kernels there; this node keeps x_c (ẋ is its input) and runs ~16. The values v and t are
 * the same ops as before, bit for bit; the gradients equal autodiff's up to float rounding.
 */
export function dualBatchNorm(
  x: tf.Tensor,
  xt: tf.Tensor,
  gamma: tf.Tensor | null,
  beta: tf.Tensor | null,
  eps: number,
  shard?: BatchShard,
): [tf.Tensor, tf.Tensor] {
  const inputs: Record<string, tf.Tensor> = { x, xt, ...(gamma ? { gamma } : {}), ...(beta ? { beta } : {}) };
  const [v, t] = runCustomNode({
    inputs,
    forwardFunc: (_backend, save) => {
      const { centred, variance } = batchStatistics(x, shard);
      const s = tf.add(variance, eps);
      const r = tf.rsqrt(s);
      const f = gamma ? tf.mul(r, gamma) : r;
      const y = tf.mul(centred, f);
      const value = beta ? tf.add(y, beta) : y;
      const tMean = batchMean(xt, shard);
      const crossMean = batchMean(tf.mul(centred, xt), shard);
      const tangent = tf.sub(tf.mul(tf.sub(xt, tMean), f), tf.mul(centred, tf.mul(f, tf.div(crossMean, s))));
      save([centred, xt, s, r, f, tMean, crossMean]);
      return [value, tangent];
    },
    backwardsFunc: (dys, saved) => dualBatchNormVjp(dys as tf.Tensor[], saved, gamma !== null, shard),
  });
  return [v!, t!];
}

/**
 * ∂/∂x, ∂/∂ẋ, ∂/∂γ, ∂/∂β of Σ g_v·v + g_t·t, by the chain rule through the per-channel scalars
 * (a, m, s, r, f) of dualBatchNorm's formula.
 */
function dualBatchNormVjp([gv, gt]: tf.Tensor[], saved: tf.Tensor[], affine: boolean, shard?: BatchShard): Record<string, () => tf.Tensor> {
  const [xc, xt, s, r, f, tMean, m] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const n = channelCount(xc, shard);
  // The per-channel parts every gradient shares, computed once (the thunks run in one backward).
  const shared = tf.tidy(() => {
    const a = tf.mul(f, tf.div(m, s));
    const sumGt = channelSum(gt!, shard);
    const gtXc = channelSum(tf.mul(gt!, xc), shard);
    // ∂/∂f: through v (Σ g_v·x_c), through t directly (Σ g_t·(ẋ − mean ẋ)) and through a (−Σ g_t·x_c · m/s).
    const gf = tf.sub(tf.add(channelSum(tf.mul(gv!, xc), shard), tf.sub(channelSum(tf.mul(gt!, xt), shard), tf.mul(tMean, sumGt))), tf.mul(gtXc, tf.div(m, s)));
    // ∂/∂m = −Σ g_t·x_c · f/s; ∂/∂s through a, and through r (r = s^−½, f = γ·r).
    const gm = tf.neg(tf.mul(gtXc, tf.div(f, s)));
    const gr = affine ? tf.mul(gf, tf.div(f, r)) : gf;
    const gs = tf.sub(tf.mul(gtXc, tf.div(tf.mul(f, m), tf.square(s))), tf.mul(gr, tf.mul(tf.pow(r, 3), 0.5)));
    return { a, sumGt, gf, gm, gs };
  });
  const { a, sumGt, gf, gm, gs } = shared;
  return {
    x: () =>
      tf.tidy(() => {
        // ∂/∂x_c: g_v·f − a·g_t + ẋ·∂m/n + 2·x_c·∂s/n (var = mean x_c²); then x_c = x − μ centres it.
        const gxc = tf.add(tf.sub(tf.mul(gv!, f), tf.mul(gt!, a)), tf.add(tf.mul(xt, tf.div(gm, n)), tf.mul(xc, tf.div(tf.mul(gs, 2), n))));
        return tf.sub(gxc, batchMean(gxc, shard));
      }),
    xt: () => tf.tidy(() => tf.add(tf.mul(tf.sub(gt!, tf.div(sumGt, n)), f), tf.mul(xc, tf.div(gm, n)))),
    gamma: () => tf.mul(gf, r),
    beta: () => channelSum(gv!, shard),
  };
}
