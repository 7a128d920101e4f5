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
 * Directional check of tf.grads(f) at xs: for random unit-scale directions v,
 * ⟨∇f, v⟩ vs the central difference (f(x+hv) − f(x−hv)) / 2h, all in float32.
 * Returns the worst relative error over the directions.
 */
export function directionalGradError(
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  xs: tf.Tensor[],
  rng: Rng,
  opts: { h?: number; directions?: number } = {},
): number {
  const h = opts.h ?? 1e-2;
  let worst = 0;
  tf.tidy(() => {
    const grads = tf.grads(f)(xs);
    for (let d = 0; d < (opts.directions ?? 3); d++) {
      const v = xs.map((x) => randn(rng, x.shape));
      const analytic = grads.reduce((acc, g, i) => acc + tf.sum(tf.mul(g, v[i]!)).dataSync()[0]!, 0);
      const plus = f(...xs.map((x, i) => tf.add(x, tf.mul(v[i]!, h)))).dataSync()[0]!;
      const minus = f(...xs.map((x, i) => tf.sub(x, tf.mul(v[i]!, h)))).dataSync()[0]!;
      const numeric = (plus - minus) / (2 * h);
      worst = Math.max(worst, Math.abs(analytic - numeric) / Math.max(1e-3, Math.abs(numeric), Math.abs(analytic)));
    }
  });
  return worst;
}
