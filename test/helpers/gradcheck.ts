import { tf } from '../../src/core/backend';
import { Rng } from '../../src/core/rng';

/** Seeded float32 tensor with standard normal entries (scaled). */
export function randn(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  rng.fillNormal(values, 0, scale);
  return tf.tensor(values, shape, 'float32');
}

/** Max |a−b| / (floor + max|b|): one relative error for a whole tensor. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** Run `f` with `backend` active, restoring the previous backend afterwards. */
export async function onBackend<R>(backend: string, f: () => R | Promise<R>): Promise<R> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return await f();
  } finally {
    await tf.setBackend(previous);
  }
}

/**
 * Directional check of tf.grads(f) at xs: for directions v (∇f itself, then random ones), ⟨∇f, v⟩ against the central
 * difference (f(x+hv) − f(x−hv)) / 2h in float32, Richardson-extrapolated over h and h/2 so the
 * truncation error is O(h⁴). The error is relative to Σ|∂f/∂xᵢ·vᵢ|, the scale at which the
 * directional derivative is summed (it may cancel to near zero). Returns the worst direction's.
 */
export function directionalGradError(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[], rng: Rng, opts: { h?: number; directions?: number } = {}): number {
  const h = opts.h ?? 1e-2;
  let worst = 0;
  tf.tidy(() => {
    const grads = tf.grads(f)(xs);
    for (let d = 0; d < (opts.directions ?? 3); d++) {
      // First along the gradient itself (no cancellation: catches scale errors), then random.
      const v = d === 0 ? grads : xs.map((x) => randn(rng, x.shape));
      const analytic = grads.reduce((acc, g, i) => acc + tf.sum(tf.mul(g, v[i]!)).dataSync()[0]!, 0);
      const scale = grads.reduce((acc, g, i) => acc + tf.sum(tf.abs(tf.mul(g, v[i]!))).dataSync()[0]!, 0);
      const central = (step: number) => {
        const at = (sign: number) => f(...xs.map((x, i) => tf.add(x, tf.mul(v[i]!, sign * step)))).dataSync()[0]!;
        return (at(1) - at(-1)) / (2 * step);
      };
      const numeric = (4 * central(h / 2) - central(h)) / 3;
      worst = Math.max(worst, Math.abs(analytic - numeric) / Math.max(scale, 1e-6));
    }
  });
  return worst;
}
