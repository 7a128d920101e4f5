import { initBackend, tf } from '../src/core/backend';
import { CACHED_FLIP_MIN_ELEMENTS, keepFilterFlips, keptFlipElements } from '../src/core/kernels/filter-flips';
import { Rng } from '../src/core/rng';
import { onBackend, randn } from './helpers/gradcheck';

/**
 * Kept flipped filters (src/core/kernels/filter-flips.ts): an input gradient through a kept weight
 * flips it once, gives the values a fresh flip gives bit for bit, and its release frees every
 * kept tensor. Filters of 3×3×180×180 (just above the threshold) on tiny images.
 */

const C = 180;

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('hybrid');
  await initBackend('wasm');
});

/** ∂(Σ conv(x, w)·dy)/∂x by the engine's own gradient, which runs Conv2DBackpropInput. */
function inputGrad(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, dy: tf.Tensor4D): Float32Array {
  return tf.tidy(() => {
    const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, w, stride, 'same'), dy)));
    return g(x).dataSync() as Float32Array;
  });
}

describe.each(['wasm', 'hybrid'])('on %s', (backend) => {
  test.each([1, 2])('stride %d: kept once per form, equal to a fresh flip, freed on release', async (stride) => {
    await onBackend(backend, () => {
      const rng = new Rng(`flips ${backend} ${stride}`);
      const x = randn(rng, [2, 6, 6, C]) as tf.Tensor4D;
      const w = randn(rng, [3, 3, C, C], 0.05) as tf.Tensor4D;
      const dy = randn(rng, [2, 6 / stride, 6 / stride, C]) as tf.Tensor4D;
      expect(w.size).toBeGreaterThanOrEqual(CACHED_FLIP_MIN_ELEMENTS);
      const fresh = inputGrad(x, w, stride, dy);
      expect(keptFlipElements()).toBe(0);
      const tensorsBefore = tf.memory().numTensors;
      const release = keepFilterFlips([w]);
      const first = inputGrad(x, w, stride, dy);
      // The flips (whole, or the stride phases' taps, which partition the filter) are kept once.
      expect(keptFlipElements()).toBe(w.size);
      expect(tf.memory().numTensors).toBe(tensorsBefore + (stride === 1 ? 1 : 4));
      const again = inputGrad(x, w, stride, dy);
      expect(keptFlipElements()).toBe(w.size);
      expect(Array.from(first)).toEqual(Array.from(fresh));
      expect(Array.from(again)).toEqual(Array.from(fresh));
      release();
      expect(keptFlipElements()).toBe(0);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      tf.dispose([x, w, dy]);
    });
  });
});

test('a transposed convolution (a decoder forward) keeps its weight’s phase filters and gives the same output', async () => {
  await onBackend('wasm', () => {
    const rng = new Rng('flips transpose');
    const x = randn(rng, [1, 3, 3, C]) as tf.Tensor4D;
    const w = randn(rng, [3, 3, C, C], 0.05) as tf.Tensor4D;
    const up = () => tf.tidy(() => tf.conv2dTranspose(x, w, [1, 6, 6, C], 2, 'same').dataSync() as Float32Array);
    const fresh = up();
    const release = keepFilterFlips([w]);
    expect(Array.from(up())).toEqual(Array.from(fresh));
    expect(keptFlipElements()).toBe(w.size);
    release();
    expect(keptFlipElements()).toBe(0);
    tf.dispose([x, w]);
  });
});

test('only the kept weights, and only large ones, are kept', async () => {
  await onBackend('wasm', () => {
    const rng = new Rng('flips others');
    const x = randn(rng, [1, 4, 4, C]) as tf.Tensor4D;
    const [w, other] = [randn(rng, [3, 3, C, C]), randn(rng, [3, 3, C, C])] as tf.Tensor4D[];
    const small = randn(rng, [3, 3, C, 8]) as tf.Tensor4D;
    const release = keepFilterFlips([w!, small]);
    inputGrad(x, other!, 1, tf.onesLike(x));
    tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(tf.conv2d(input as tf.Tensor4D, small, 1, 'same')))(x));
    expect(keptFlipElements()).toBe(0);
    release();
    tf.dispose([x, w!, other!, small]);
  });
});
