import { tf } from '../backend';
import { taskLoss } from '../loss';
import { grads } from '../nn/backprop';
import { TensorOps } from '../nn/tensor';
import { build } from './build';
import { data } from './data';
import { gradient } from './gradient';
import { minibatch1 } from './minibatch1';
import { definePass } from './pass';
import type { Passes } from './passes';

/**
 * ∂L/∂W_l per prunable weight on each of the job's minibatches, as float32 copies (zico): the first
 * from the shared gradient pass, the second by its own forward and backward (no layer cache: other inputs).
 */
export const gradients = definePass({
  name: 'gradients',
  dependencies: [build, data, minibatch1, gradient],
  // The gradient pass's copies for the second backward, the second minibatch, and both gradients' copies and the second's tensors.
  memory: { ...gradient.memory, extraMinibatches: 1, extraParamCopies: 3 },
  recomputable: false,
  cached: false,
  forwardOnly: false,
  run: gradientsPerMinibatch,
});

function gradientsPerMinibatch(passes: Passes): Map<string, Float32Array>[] {
  const prunable = passes.prunableParams;
  const first = passes.get(gradient).grads;
  const out = [new Map(prunable.map((p) => [p.name, Float32Array.from(first.get(p.name)!.dataSync())]))];
  for (const batch of passes.minibatches().slice(1)) {
    const weights = prunable.map((p) => passes.lookup(p.name));
    const perBatch = grads(() => taskLoss(passes.inputs.loss, passes.inputs.net.forward(new TensorOps(passes.lookup), batch.x), batch.target), weights);
    out.push(new Map(prunable.map((p, i) => [p.name, Float32Array.from(perBatch[i]!.dataSync())])));
    tf.dispose(perBatch);
  }
  return out;
}
