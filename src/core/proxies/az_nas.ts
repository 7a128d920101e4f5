import { tf } from '../backend';
import type { ShapeOps } from '../nn/shape';
import { azNasPass, type AzNasParts } from '../passes/az_nas';
import type { AzNasDraws } from '../passes/passes';
import type { Rng } from '../rng';
import type { ProxyDefinition } from './proxy';

/**
 * AZ-NAS (CVPR 2024, cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_az_nas_score.py:109–197): four
 * parts, each its own column. Expressivity, progressivity and trainability come from one pass on the
 * authors' kaiming-normal weights and Gaussian input (passes/az_nas.ts); complexity is the FLOPs
 * (the notebook reads NATS-Bench's, tss_general.ipynb cell 7). The combined score ranks the parts
 * across a population (azNasRankScores): a dataset-level column, not a per-network value.
 */
/** One of the three parts the az_nas pass gives, as its own column. */
function azNasPart(part: keyof AzNasParts): ProxyDefinition {
  return { name: `az_nas.${part}`, passes: ['az_nas'], reads: 'weights', raw: ({ passes }) => passes.get(azNasPass)[part] };
}

export const azNasExpressivity = azNasPart('expressivity');
export const azNasProgressivity = azNasPart('progressivity');
export const azNasTrainability = azNasPart('trainability');

export const azNasComplexity: ProxyDefinition = {
  name: 'az_nas.complexity',
  passes: ['build'],
  reads: 'shapes',
  raw: ({ trace }) => trace.flops / 1e6,
};

/**
 * az_nas's draws, each its own stream: kaiming-normal fan-in conv/linear weights N(0, 2/fan_in)
 * (init_model 'kaiming_norm_fanin', lines 7–15, 124), its input N(0, 1) in the minibatch's shape
 * (126–127), and block i's Bernoulli(0.5) signs as ±1 (155).
 */
export function drawAzNas(trace: ShapeOps, inputShape: number[], rng: Rng): AzNasDraws {
  const weights = new Map<string, tf.Tensor>();
  for (const p of trace.params) {
    if (!p.prunable) continue;
    const values = rng.fork(`az_nas/weight/${p.name}`).fillNormal(new Float32Array(p.shape.reduce((a, b) => a * b, 1)), 0, Math.sqrt(2 / p.fanIn));
    weights.set(p.name, tf.tensor(values, p.shape));
  }
  const input = tf.tensor(rng.fork('az_nas/input').fillNormal(new Float32Array(inputShape.reduce((a, b) => a * b, 1))), inputShape);
  const signs = (block: number, shape: number[]) => {
    const stream = rng.fork(`az_nas/g_out/${block}`);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = stream.float() < 0.5 ? 1 : -1;
    return tf.tensor(values, shape);
  };
  return { weights, input, signs };
}

/** One network's parts, as stored in its row's four columns. */
export interface AzNasRow {
  expressivity: number;
  progressivity: number;
  trainability: number;
  complexity: number;
}

/**
 * The combined AZ-NAS score of each network of a population (tss_general.ipynb cell 8):
 * Σ_k ln(rank_k / L) over the four parts, ranks ascending with ties averaged (scipy.stats.rankdata),
 * −∞ lowest; higher is better. It depends on the whole population: computed over a dataset's rows.
 */
export function azNasRankScores(rows: readonly AzNasRow[]): number[] {
  const L = rows.length;
  const scores = new Array<number>(L).fill(0);
  for (const part of ['expressivity', 'progressivity', 'trainability', 'complexity'] as const) {
    const ranks = averageRanks(rows.map((r) => r[part]));
    for (let i = 0; i < L; i++) scores[i]! += Math.log(ranks[i]! / L);
  }
  return scores;
}

/** scipy.stats.rankdata('average'): 1-based ascending ranks, tied values share their mean rank. */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]! || 0);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && values[order[end]!] === values[order[start]!]) end++;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]!] = rank;
    start = end;
  }
  return ranks;
}
