import { tf } from '../backend';
import type { ProxyDefinition } from './proxy';
import { sumOverLayers } from './sums';

/** Σ W ⊙ ∂L/∂W, signed. */
export const plain: ProxyDefinition = {
  name: 'plain',
  passes: ['gradient'],
  raw: ({ passes }) => sumOverLayers(passes, (w, g) => tf.sum(tf.mul(w, g!)), passes.gradient().grads),
};
