import { tf } from '../backend';
import { gradient } from '../passes/gradient';
import type { ProxyDefinition } from './proxy';
import { sumOverLayers } from './sums';

/** Σ W ⊙ ∂L/∂W, signed. */
export const plain: ProxyDefinition = {
  name: 'plain',
  passes: ['gradient'],
  reads: 'data',
  raw: ({ passes }) => sumOverLayers(passes, (w, g) => tf.sum(tf.mul(w, g!)), passes.get(gradient).grads),
};
