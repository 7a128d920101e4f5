import { tf } from '../backend';
import { gradient } from '../passes/gradient';
import type { ProxyDefinition } from './proxy';
import { sumOverLayers } from './sums';

/** Σ_l ‖∂L/∂W_l‖_F: a sum of per-layer norms, not the global gradient norm. */
export const grad_norm: ProxyDefinition = {
  name: 'grad_norm',
  passes: ['gradient'],
  reads: 'data',
  raw: ({ passes }) => sumOverLayers(passes, (_w, g) => tf.norm(g!), passes.get(gradient).grads),
};
