import { corrcoefRows } from '../linalg';
import { jacobian } from '../passes/jacobian';
import type { ProxyDefinition } from './proxy';

/**
 * EPE-NAS: rows of the input Jacobian grouped by class; per class s_c = Σ ln(|corrcoef| + 1e-5)
 * (divided by n_c when the output has more than 100 classes). ≤ 100 classes: Σ_c |s_c|; otherwise
 * (1/K) Σ_c Σ_c' |s_c − s_c'| over the K classes kept. A class with one row has NumPy's scalar
 * correlation 1: ln(1 + 1e-5) for ≤ 100 classes, skipped above (NASLib's caught error).
 */
export const epe_nas: ProxyDefinition = {
  name: 'epe_nas',
  passes: ['jacobian'],
  reads: 'data',
  raw: ({ passes, outputs }) => {
    const classes = passes.target.classes;
    if (!classes) return NaN; // dense targets have no classes: NASLib fails and scores NaN
    const b = passes.batchSize;
    const j = passes.get(jacobian);
    const d = j.length / b;
    const rowsByClass = new Map<number, number[]>();
    classes.forEach((c, i) => {
      const rows = rowsByClass.get(c);
      if (rows) rows.push(i);
      else rowsByClass.set(c, [i]);
    });
    const k = 1e-5;
    const scores: number[] = [];
    // Classes in order of first appearance, as NASLib's dict iterates.
    for (const rows of rowsByClass.values()) {
      if (rows.length === 1) {
        if (outputs > 100) continue;
        scores.push(Math.log(1 + k));
        continue;
      }
      const sub = new Float64Array(rows.length * d);
      rows.forEach((r, i) => sub.set(j.subarray(r * d, (r + 1) * d), i * d));
      const corr = corrcoefRows(sub, rows.length, d);
      let s = 0;
      for (const v of corr) s += Math.log(Math.abs(v) + k);
      if (outputs > 100) s /= rows.length;
      scores.push(s);
    }
    if (outputs <= 100) return scores.reduce((acc, s) => acc + Math.abs(s), 0);
    if (scores.length === 0) return 0;
    let total = 0;
    for (const a of scores) for (const c of scores) total += Math.abs(a - c);
    return total / scores.length;
  },
};
