import type { ProxyDefinition } from './proxy';

/**
 * Zen-NAS: weights re-drawn N(0, 1) (biases 0, batch norm γ = 1, β = 0), two Gaussian inputs
 * x and x + 0.01·ε; ln mean_n Σ|Φ(x) − Φ(x + 0.01ε)| + Σ_bn ln √mean(running_var) after both passes.
 */
export const zen: ProxyDefinition = {
  name: 'zen',
  passes: ['zen'],
  raw: ({ passes }) => {
    const { logDelta, bnLogRho } = passes.zen();
    return logDelta + bnLogRho;
  },
};
