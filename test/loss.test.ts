import { initBackend, tf } from '../src/core/backend';
import { logSumExp } from '../src/core/loss';

/**
 * logSumExp with its stabilising maximum held constant on the tape: same value as tfjs', gradient
 * softmax, and the second derivative (grasp differentiates the loss twice) diag(p) − p pᵀ.
 */
beforeAll(async () => {
  await initBackend();
});

describe('logSumExp', () => {
  const x = () =>
    tf.tensor2d([
      [0.5, -1.25, 2, 0.75],
      [1000, 999, 1001, 998],
    ]);

  test('value equals tfjs logSumExp, stable for large logits', () => {
    const a = x();
    const got = logSumExp(a, 1).dataSync();
    const want = tf.logSumExp(a, 1).dataSync();
    for (let i = 0; i < 2; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);
    expect(Number.isFinite(got[1]!)).toBe(true);
    a.dispose();
  });

  test('gradient is the softmax; Hessian-vector product is (diag(p) − p pᵀ) v', () => {
    const a = x();
    const v = tf.tensor2d([
      [0.3, -0.7, 0.2, 1.1],
      [-0.4, 0.9, 0.5, -0.2],
    ]);
    const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(logSumExp(z, 1), tf.tensor1d([1, 1]))))(a);
    const p = tf.softmax(a, 1);
    const gd = g.dataSync();
    const pd = p.dataSync();
    for (let i = 0; i < gd.length; i++) expect(gd[i]).toBeCloseTo(pd[i]!, 5);
    // H·v by differentiating ⟨∇f(z), v⟩ again.
    const hv = tf
      .grad((z: tf.Tensor) => tf.sum(tf.mul(tf.grad((y: tf.Tensor) => tf.sum(logSumExp(y, 1)))(z), v)))(a)
      .dataSync();
    const vd = v.dataSync();
    for (let r = 0; r < 2; r++) {
      let pv = 0;
      for (let c = 0; c < 4; c++) pv += pd[r * 4 + c]! * vd[r * 4 + c]!;
      for (let c = 0; c < 4; c++) expect(hv[r * 4 + c]).toBeCloseTo(pd[r * 4 + c]! * (vd[r * 4 + c]! - pv), 5);
    }
    tf.dispose([a, v, g, p]);
  });

  test('no backward builds the maximum’s argmax mask', async () => {
    const a = x();
    const prof = await tf.profile(() => tf.grad((z: tf.Tensor) => tf.sum(logSumExp(z, 1)))(a));
    expect(prof.kernels.map((k) => k.name)).not.toContain('Equal');
    a.dispose();
  });
});
