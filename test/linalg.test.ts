import { symmetricEigenvalues } from '../src/core/linalg';
import { Rng } from '../src/core/rng';

/** Q·diag(λ)·Qᵀ with Q a product of random Householder reflections (orthogonal, so the spectrum is λ exactly). */
function withSpectrum(lambda: number[], rng: Rng): Float64Array {
  const n = lambda.length;
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let r = 0; r < 3; r++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    const norm2 = v.reduce((s, x) => s + x * x, 0);
    // Q ← Q·(I − 2vvᵀ/|v|²)
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += q[i * n + k]! * v[k]!;
      for (let k = 0; k < n; k++) q[i * n + k]! -= (2 * dot * v[k]!) / norm2;
    }
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k]! * lambda[k]! * q[j * n + k]!;
      a[i * n + j] = a[j * n + i] = s;
    }
  return a;
}

const sorted = (x: ArrayLike<number>) => Array.from(x).sort((a, b) => a - b);

describe('symmetricEigenvalues', () => {
  test.each([1, 2, 7, 64, 300])('n = %i: the spectrum of Q·diag(λ)·Qᵀ, repeated and zero eigenvalues included', (n) => {
    const rng = new Rng(`eig-${n}`);
    // A correlation-like spectrum: a few large values, repeats, exact zeros (rank-deficient), one negative.
    const lambda = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : i % 7 === 0 ? 3 : i === 1 ? -0.5 : rng.float() * 10));
    const got = sorted(symmetricEigenvalues(withSpectrum(lambda, rng), n));
    const want = sorted(lambda);
    const scale = Math.max(1, ...want.map(Math.abs));
    got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(1e-11 * scale * n));
  });

  test('diagonal, identity and zero matrices; the input is left as it was', () => {
    const diag = Float64Array.from([4, 0, 0, 0, -1, 0, 0, 0, 2.5]);
    const copy = Float64Array.from(diag);
    expect(sorted(symmetricEigenvalues(diag, 3))).toEqual([-1, 2.5, 4]);
    expect(diag).toEqual(copy);
    expect(sorted(symmetricEigenvalues(new Float64Array(16), 4))).toEqual([0, 0, 0, 0]);
    const eye = new Float64Array(25);
    for (let i = 0; i < 5; i++) eye[i * 5 + i] = 1;
    expect(sorted(symmetricEigenvalues(eye, 5))).toEqual([1, 1, 1, 1, 1]);
    expect(symmetricEigenvalues(new Float64Array(0), 0)).toHaveLength(0);
  });

  test('NaN or infinite entries throw, as NumPy does', () => {
    expect(() => symmetricEigenvalues(Float64Array.from([1, NaN, NaN, 1]), 2)).toThrow('matrix has NaN or infinite entries');
    expect(() => symmetricEigenvalues(Float64Array.from([Infinity, 0, 0, 1]), 2)).toThrow('matrix has NaN or infinite entries');
  });
});
