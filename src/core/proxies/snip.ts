import { tf } from '../backend';
import { gradient } from '../passes/gradient';
import type { ProxyDefinition } from './proxy';
import { sumOverLayers } from './sums';

/** Σ |W ⊙ ∂L/∂W| (NASLib's mask gradient equals W ⊙ g). */
export const snip: ProxyDefinition = {
  name: 'snip',
  passes: ['gradient'],
  reads: 'data',
  raw: ({ passes }) => sumOverLayers(passes, (w, g) => tf.sum(tf.abs(tf.mul(w, g!))), passes.get(gradient).grads),
};
