import { tf } from '../backend';
import { symmetricEigenvalues } from '../linalg';
import { TensorOps } from '../nn/tensor';
import { build } from './build';
import { data } from './data';
import { definePass } from './pass';
import type { Passes } from './passes';

/** One module output seen by MeCo's hooks: its smallest correlation eigenvalue and how many hooks see it. */
export interface ChannelCorrelationSite {
  module: string;
  minEigenvalue: number;
  hookCalls: number;
}

/**
 * meco's terms: one forward of the minibatch's first sample alone (MeCo's NB201 script runs batch 1,
 * HamsterMimi/MeCo correlation/NAS_Bench_201.py:61, 93–94); for every module output (conv, batch norm,
 * ReLU call, pool, identity edge, cell or block) the smallest eigenvalue of the channel correlation
 * matrix of that sample (channels as variables, positions as observations; NaN entries → 0, 14–32).
 */
export const channelCorrelation = definePass({
  name: 'channel_correlation',
  dependencies: [build, data],
  // One sample: far below the forward pass's copies at the job's batch.
  memory: { activation: 2.2, boundary: 1, segment: 2.2, loss: 0 },
  recomputable: false,
  cached: false,
  forwardOnly: true,
  run: correlationSites,
});

function correlationSites(passes: Passes): ChannelCorrelationSite[] {
  const { net, x } = passes.inputs;
  const sites: ChannelCorrelationSite[] = [];
  const byTensor = new Map<number, number>();
  tf.tidy(() => {
    const onModuleOutput = (module: string, y: tf.Tensor) => {
      let value = byTensor.get(y.id);
      if (value === undefined) {
        value = minCorrelationEigenvalue(y);
        byTensor.set(y.id, value);
      }
      sites.push({ module, minEigenvalue: value, hookCalls: net.moduleHookCalls?.(module) ?? 1 });
    };
    const first = x.shape[0] === 1 ? x : tf.slice(x, 0, 1);
    net.forward(new TensorOps(passes.lookup, { onModuleOutput }), first);
  });
  return sites;
}

/** Smallest eigenvalue of torch.corrcoef of sample 0 as (C, rest), NaN/±∞ entries set to 0; float64. */
export function minCorrelationEigenvalue(y: tf.Tensor): number {
  const c = y.shape[y.rank - 1]!;
  const values = y.dataSync();
  const positions = y.rank === 4 ? y.shape[1]! * y.shape[2]! : 1;
  const corr = new Float64Array(c * c);
  const centred = new Float64Array(c * positions);
  const norms = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let mean = 0;
    for (let p = 0; p < positions; p++) mean += values[p * c + ch]!;
    mean /= positions;
    let ss = 0;
    let constant = true;
    const first = values[ch]!;
    for (let p = 0; p < positions; p++) {
      const v = values[p * c + ch]!;
      if (v !== first) constant = false;
      const d = v - mean;
      centred[ch * positions + p] = d;
      ss += d * d;
    }
    // A constant channel (or one observation) has an undefined correlation: torch gives NaN, MeCo 0.
    norms[ch] = constant ? NaN : Math.sqrt(ss);
  }
  for (let a = 0; a < c; a++) {
    for (let b = a; b < c; b++) {
      let s = 0;
      for (let p = 0; p < positions; p++) s += centred[a * positions + p]! * centred[b * positions + p]!;
      let r = s / (norms[a]! * norms[b]!);
      if (!Number.isFinite(r)) r = 0;
      else r = Math.max(-1, Math.min(1, r));
      corr[a * c + b] = corr[b * c + a] = r;
    }
  }
  const eig = symmetricEigenvalues(corr, c);
  let min = Infinity;
  for (const v of eig) min = Math.min(min, v);
  return min;
}
