/**
 * Small float64 linear algebra for the proxies that NASLib computes in NumPy (jacov, epe_nas, nwot).
 * Matrices are row-major Float64Arrays.
 */

/**
 * Pearson correlation between the rows of an n×d matrix (NumPy's corrcoef). A constant row gives
 * NaN entries, as NumPy does.
 */
export function corrcoefRows(data: Float64Array | Float32Array, n: number, d: number): Float64Array {
  const centred = new Float64Array(n * d);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    const off = i * d;
    for (let j = 0; j < d; j++) mean += data[off + j]!;
    mean /= d;
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const v = data[off + j]! - mean;
      centred[off + j] = v;
      ss += v * v;
    }
    norms[i] = Math.sqrt(ss);
  }
  const out = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = a; b < n; b++) {
      let s = 0;
      const oa = a * d;
      const ob = b * d;
      for (let j = 0; j < d; j++) s += centred[oa + j]! * centred[ob + j]!;
      // NumPy clips to [-1, 1] after dividing by the standard deviations.
      let r = s / (norms[a]! * norms[b]!);
      if (r > 1) r = 1;
      else if (r < -1) r = -1;
      out[a * n + b] = r;
      out[b * n + a] = r;
    }
  }
  return out;
}

/**
 * Eigenvalues of a symmetric n×n matrix (cyclic Jacobi rotations, float64). Throws on NaN input,
 * as NumPy's eigen-solver does.
 */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(matrix);
  for (const v of a) if (!Number.isFinite(v)) throw new Error('matrix has NaN or infinite entries');
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const eig = new Float64Array(n);
  for (let i = 0; i < n; i++) eig[i] = a[i * n + i]!;
  return eig;
}

/** ln|det A| by LU decomposition with partial pivoting (NumPy's slogdet); -Infinity when singular. */
export function logAbsDet(matrix: Float64Array, n: number): number {
  const a = Float64Array.from(matrix);
  let logDet = 0;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    let best = Math.abs(a[col * n + col]!);
    for (let r = col + 1; r < n; r++) {
      const v = Math.abs(a[r * n + col]!);
      if (v > best) {
        best = v;
        pivot = r;
      }
    }
    if (best === 0 || Number.isNaN(best)) return best === 0 ? -Infinity : NaN;
    if (pivot !== col) {
      for (let k = 0; k < n; k++) {
        const tmp = a[col * n + k]!;
        a[col * n + k] = a[pivot * n + k]!;
        a[pivot * n + k] = tmp;
      }
    }
    const d = a[col * n + col]!;
    logDet += Math.log(Math.abs(d));
    for (let r = col + 1; r < n; r++) {
      const f = a[r * n + col]! / d;
      if (f === 0) continue;
      for (let k = col; k < n; k++) a[r * n + k] = a[r * n + k]! - f * a[col * n + k]!;
    }
  }
  return logDet;
}
