import * as tf from '@tensorflow/tfjs-core';

/**
 * Flipped filters of a job's weights, made once per job instead of once per input gradient.
 *
 * An input gradient convolves dy with the filter flipped in space and transposed in channels
 * (conv2d.ts). Made afresh, that filter costs the flip and, on wasm, XNNPACK's packing of new
 * weights: ~160 ms for a 3×3×1024×1024 filter at batch 8, half as much again as the convolution's
 * own arithmetic. A job's weights never change, and every pass and shard differentiates through the
 * same weight tensors, so the flipped form of each large weight is kept while its owner keeps the
 * weights. Only kernels use it: inside a kernel nothing is taped, so a kept tensor cannot cut a
 * gradient's path (the dilated convolutions' gradients, which are taped, flip afresh).
 */

/** Filters smaller than this many elements flip in well under a millisecond: not worth a kept copy. */
export const CACHED_FLIP_MIN_ELEMENTS = 2 ** 18;

/** Whether a weight of this shape has its flips kept (the memory plan counts the same weights). */
export function keepsFlipsOf(shape: readonly number[]): boolean {
  return shape.length === 4 && shape.reduce((a, b) => a * b, 1) >= CACHED_FLIP_MIN_ELEMENTS;
}

/** Kept flips by the weight's data, then by the flip's form (whole filter or a stride phase's taps). */
const flipsByWeight = new Map<tf.DataId, Map<string, tf.Tensor4D>>();

/**
 * Keep the flips of these weights (those keepsFlipsOf accepts) until the
 * returned release is called, which the owner does before disposing the weights.
 */
export function keepFilterFlips(weights: Iterable<tf.Tensor>): () => void {
  const ids = [...weights].filter((w) => keepsFlipsOf(w.shape) && !flipsByWeight.has(w.dataId)).map((w) => w.dataId);
  for (const id of ids) flipsByWeight.set(id, new Map());
  return () => {
    for (const id of ids) {
      for (const t of flipsByWeight.get(id)?.values() ?? []) t.dispose();
      flipsByWeight.delete(id);
    }
  };
}

/** How a kernel gets a flipped form of `filter`: made by `make`, kept when the filter is a kept weight. */
export type FlipSource = (filter: tf.Tensor4D, form: string, make: () => tf.Tensor4D) => tf.Tensor4D;

/** Always made afresh (taped code, where a kept tensor would cut the gradient's path to the filter). */
export const freshFlip: FlipSource = (_filter, _form, make) => make();

/** Kept for the weights keepFilterFlips was given; made afresh for any other filter. Kernels only. */
export const keptFlip: FlipSource = (filter, form, make) => {
  const kept = flipsByWeight.get(filter.dataId);
  if (!kept) return make();
  let flipped = kept.get(form);
  if (!flipped) kept.set(form, (flipped = tf.keep(make())));
  return flipped;
};

/** Elements of kept flips (tests; a job's memory plan counts one copy of its large conv weights). */
export function keptFlipElements(): number {
  let n = 0;
  for (const forms of flipsByWeight.values()) for (const t of forms.values()) n += t.size;
  return n;
}
