import { gradient } from '../passes/gradient';
import type { ProxyDefinition } from './proxy';

/**
 * Σ_l fan_in_l · Σ_k ½·mean_n(Σ_{h,w} A_l ⊙ ∂L/∂A_l)², with A_l the layer's raw output (bias
 * included): NASLib's channel saliency broadcast to every weight of the channel.
 */
export const fisher: ProxyDefinition = {
  name: 'fisher',
  passes: ['gradient'],
  reads: 'data',
  raw: ({ passes }) => {
    let total = 0;
    for (const v of passes.get(gradient).fisher.values()) total += v;
    return total;
  },
};
