import { tf } from '../backend';
import { TensorOps } from '../nn/tensor';
import { build } from './build';
import { data } from './data';
import { definePass } from './pass';
import type { Passes } from './passes';

/** J = ∂(Σ_{n,j} z_{n,j})/∂x as B rows of D float64 values, feature order irrelevant (jacov, epe_nas). */
export const jacobian = definePass({
  name: 'jacobian',
  dependencies: [build, data],
  // Measured: 3.3–3.8 activation copies; its backward starts from one output-shaped seed.
  memory: { activation: 4, boundary: 2.3, segment: 4.2, loss: 1 },
  recomputable: true,
  cached: true,
  forwardOnly: false,
  run: inputJacobian,
});

function inputJacobian(passes: Passes): Float64Array {
  const { net, x } = passes.inputs;
  const segments = passes.segmentsFor('jacobian');
  const j = tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(net.forward(new TensorOps(passes.lookup, {}, segments, { cache: passes.layers }), input)))(x));
  const rows = Float64Array.from(j.dataSync());
  j.dispose();
  return rows;
}
