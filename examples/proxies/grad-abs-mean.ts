import { gradient, sumOverLayers, tf, type ProxyDefinition } from '../../src/plugin-api';

/** Σ_l mean |∂L/∂W_l| over conv and linear weights, on the job's minibatch: reads the shared gradient pass. */
const gradAbsMean: ProxyDefinition = {
  name: 'grad_abs_mean',
  passes: ['gradient'],
  reads: 'data',
  raw: ({ passes }) => sumOverLayers(passes, (_w, g) => tf.mean(tf.abs(g!)), passes.get(gradient).grads),
};

export default gradAbsMean;
