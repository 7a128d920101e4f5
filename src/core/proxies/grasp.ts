import { tf } from '../backend';
import { hessian } from '../passes/hessian';
import type { ProxyDefinition } from './proxy';
import { sumOverLayers } from './sums';

/** −Σ W ⊙ (H g): the Hessian of the loss (prunable weights) times its gradient, exact (nested autodiff). */
export const grasp: ProxyDefinition = {
  name: 'grasp',
  passes: ['hessian'],
  reads: 'data',
  raw: ({ passes }) => sumOverLayers(passes, (w, hg) => tf.neg(tf.sum(tf.mul(w, hg!))), passes.get(hessian)),
};
