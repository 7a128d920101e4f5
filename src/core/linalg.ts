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
 * Eigenvalues of a symmetric n×n matrix, float64, in no particular order: Householder reduction to
 * tridiagonal form, then the implicit QL iteration (EISPACK's tred1/tql1, as LAPACK's dsyev does in
 * spirit). ~4n³/3 operations once, where cyclic Jacobi rotations took ~2n³ per sweep over ~10 sweeps:
 * MeCo's 512-channel correlation matrices of NB101 cost seconds each. Throws on NaN input, as NumPy's
 * eigen-solver does.
 */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  for (const v of matrix) if (!Number.isFinite(v)) throw new Error('matrix has NaN or infinite entries');
  const { d, e } = tridiagonal(Float64Array.from(matrix), n);
  tridiagonalEigenvalues(d, e);
  return d;
}

/** Householder reduction of `a` (row-major, destroyed; its lower triangle is read) to diagonal d and sub-diagonal e (e[i] couples i−1 and i). */
function tridiagonal(a: Float64Array, n: number): { d: Float64Array; e: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  for (let i = n - 1; i > 0; i--) {
    const l = i - 1;
    const row = i * n;
    let scale = 0;
    for (let k = 0; k <= l; k++) scale += Math.abs(a[row + k]!);
    if (l === 0 || scale === 0) {
      e[i] = a[row + l]!;
      continue;
    }
    let h = 0;
    for (let k = 0; k <= l; k++) {
      a[row + k]! /= scale;
      h += a[row + k]! ** 2;
    }
    let f = a[row + l]!;
    let g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
    e[i] = scale * g;
    h -= f * g;
    a[row + l] = f - g;
    // p = A·u/h into e[0..l], and K = uᵀp/2h.
    f = 0;
    for (let j = 0; j <= l; j++) {
      g = 0;
      for (let k = 0; k <= j; k++) g += a[j * n + k]! * a[row + k]!;
      for (let k = j + 1; k <= l; k++) g += a[k * n + j]! * a[row + k]!;
      e[j] = g / h;
      f += e[j]! * a[row + j]!;
    }
    const hh = f / (h + h);
    // A ← A − u qᵀ − q uᵀ with q = p − K u (lower triangle only).
    for (let j = 0; j <= l; j++) {
      f = a[row + j]!;
      g = e[j]! - hh * f;
      e[j] = g;
      for (let k = 0; k <= j; k++) a[j * n + k]! -= f * e[k]! + g * a[row + k]!;
    }
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i]!;
  return { d, e };
}

/** Eigenvalues of the symmetric tridiagonal (d, e) into d, by implicit QL with Wilkinson shifts; e is destroyed. */
function tridiagonalEigenvalues(d: Float64Array, e: Float64Array): void {
  const n = d.length;
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  if (n > 0) e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    for (let iter = 0; ; iter++) {
      let m = l;
      while (m < n - 1 && Math.abs(e[m]!) > Number.EPSILON * (Math.abs(d[m]!) + Math.abs(d[m + 1]!))) m++;
      if (m === l) break;
      if (iter === 60) throw new Error('eigenvalues: the QL iteration did not converge');
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the matrix splits here; deflate and start over.
          d[i + 1]! -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (r === 0 && i >= l) continue;
      d[l]! -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
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
