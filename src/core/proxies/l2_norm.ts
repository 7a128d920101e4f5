import { tf } from '../backend';
import type { ProxyDefinition } from './proxy';
import { sumOverLayers } from './sums';

/**
 * Σ_l ‖W_l‖_F over conv and linear weights, as initialised (no data), including modules that are
 * registered but never run (TNB's GAN discriminator), as NASLib's module walk does.
 */
export const l2_norm: ProxyDefinition = {
  name: 'l2_norm',
  passes: ['build'],
  reads: 'weights',
  raw: ({ passes }) => sumOverLayers(passes, (w) => tf.norm(w), null, passes.registeredPrunableParams),
};
