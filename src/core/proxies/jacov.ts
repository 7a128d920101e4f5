import { corrcoefRows, symmetricEigenvalues } from '../linalg';
import { jacobian } from '../passes/jacobian';
import type { ProxyDefinition } from './proxy';

/** −Σ_i [ln(λ_i + 1e-5) + 1/(λ_i + 1e-5)] over the eigenvalues of corrcoef(J), in float64. */
export const jacov: ProxyDefinition = {
  name: 'jacov',
  passes: ['jacobian'],
  reads: 'data',
  raw: ({ passes }) => {
    const b = passes.batchSize;
    const j = passes.get(jacobian);
    const corr = corrcoefRows(j, b, j.length / b);
    let eig: Float64Array;
    try {
      eig = symmetricEigenvalues(corr, b);
    } catch {
      return NaN; // NASLib catches the eigen-solver's error and scores NaN
    }
    const k = 1e-5;
    let s = 0;
    for (const v of eig) s += Math.log(v + k) + 1 / (v + k);
    return -s;
  },
};
