import { sanitize, type ProxyDefinition } from './proxy';

/**
 * SynFlow: Σ|θ ⊙ ∂R/∂θ| with R = Σ f(1) on |θ| without batch norm, one all-ones image. The raw
 * value reaches e^165, beyond float32 and close to what float64 prints, so it is carried as
 * exp(logScale) · sum and the score (ln raw, 0 stays 0) is formed in log space.
 */
export const synflow: ProxyDefinition = {
  name: 'synflow',
  passes: ['synflow'],
  raw: ({ passes }) => {
    const { logScale, sum } = passes.synflow();
    return sum === 0 ? 0 : Math.exp(logScale) * sum;
  },
  score: ({ passes }) => {
    const { logScale, sum } = passes.synflow();
    if (!Number.isFinite(sum) || !Number.isFinite(logScale)) return -Math.log(1e8); // NaN → −1e8, then logged
    if (sum === 0) return 0;
    return sanitize(logScale + Math.log(sum));
  },
};
