import { tf } from '../backend';
import { grad } from '../nn/backprop';
import { shardConcat } from '../nn/batch-shard';
import { TensorOps } from '../nn/tensor';
import { build } from './build';
import { data } from './data';
import { definePass } from './pass';
import type { Passes } from './passes';

/** J = ∂(Σ_{n,j} z_{n,j})/∂x as B rows of D float64 values, feature order irrelevant (jacov, epe_nas). */
export const jacobian = definePass({
  name: 'jacobian',
  dependencies: [build, data],
  // Measured (as gradient's): 1.6–1.7 activation copies, 2.0 boundary and 1.7 segment copies
  // recomputing; its backward starts from one output-shaped seed.
  memory: { activation: 2.2, boundary: 2.6, segment: 2.2, loss: 1 },
  recomputable: true,
  cached: true,
  forwardOnly: false,
  shardable: true,
  run: inputJacobian,
});

function inputJacobian(passes: Passes): Float64Array {
  const { net, x, shard } = passes.inputs;
  const segments = passes.segmentsFor('jacobian');
  const j = tf.tidy(() => grad((input) => tf.sum(net.forward(new TensorOps(passes.lookup, {}, segments, { cache: passes.layers, shard }), input)), x));
  const rows = Float64Array.from(j.dataSync());
  j.dispose();
  if (!shard) return rows;
  // A shard's rows: every sample's output sum depends on the others' through batch norm, which its
  // backward sums over the shards; the rows of all of them, in sample order, are the whole batch's.
  return shardConcat(shard, rows);
}
