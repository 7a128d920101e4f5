import { gradients } from '../passes/gradients';
import type { ProxyDefinition } from './proxy';

/**
 * ZiCo (ICLR 2023, SLDGroup/ZiCo ZeroShotProxy/compute_zico.py:14–63): per conv/linear layer
 * S = Σ_{w: σ_w ≠ 0} mean_b|g_w| / std_b(g_w) over the minibatches (np.std, ddof 0), and
 * zico = Σ_layers ln S, a layer with S = 0 skipped. Two minibatches (the authors' --maxbatch 2,
 * evolution_search.py:54): the job's minibatch and a second one of the same size, drawn from the
 * job's data stream `data/minibatch1` (compute.ts); both follow from the seed alone, so, like the
 * authors' two batches, they are the same for every architecture. The loss is the task's
 * (cross-entropy for classification, as the authors').
 */
export const zico: ProxyDefinition = {
  name: 'zico',
  passes: ['gradients'],
  reads: 'data',
  raw: ({ passes }) => {
    const perBatch = passes.get(gradients);
    let total = 0;
    for (const p of passes.prunableParams) {
      const s = layerSignalToNoise(perBatch.map((g) => g.get(p.name)!));
      if (s !== 0) total += Math.log(s);
    }
    return total;
  },
};

/** Σ_w mean|g_w| / std(g_w) over the weights whose gradient varies between minibatches (float64). */
function layerSignalToNoise(grads: Float32Array[]): number {
  const k = grads.length;
  let s = 0;
  for (let w = 0; w < grads[0]!.length; w++) {
    let mean = 0;
    let meanAbs = 0;
    for (const g of grads) {
      mean += g[w]!;
      meanAbs += Math.abs(g[w]!);
    }
    mean /= k;
    meanAbs /= k;
    let variance = 0;
    for (const g of grads) variance += (g[w]! - mean) ** 2;
    const std = Math.sqrt(variance / k);
    if (std !== 0) s += meanAbs / std;
  }
  return s;
}
