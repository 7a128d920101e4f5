import { tf } from '../backend';
import { TensorOps } from '../nn/tensor';
import { build } from './build';
import { data } from './data';
import { minibatch1 } from './minibatch1';
import { definePass } from './pass';
import type { Passes } from './passes';

/** SWAP's input: the first 16 images of the job's data stream (pym1024/SWAP correlation.py:26, 36–39). */
export const SWAP_SAMPLES = 16;

/**
 * swap's count: the distinct sample-wise activation patterns of the units of every 4-D ReLU (bit n:
 * the unit is active on sample n), on the first 16 images of the job's minibatches in draw order.
 */
export const reluPatterns = definePass({
  name: 'relu_patterns',
  dependencies: [build, data, minibatch1],
  // One forward at 16 samples (at most the job's batch at the paper's sizes), and the second minibatch.
  memory: { activation: 2.2, boundary: 1, segment: 2.2, loss: 0, extraMinibatches: 1 },
  recomputable: false,
  cached: false,
  forwardOnly: true,
  run: countPatterns,
});

function countPatterns(passes: Passes): number {
  const patterns = new Set<number>();
  const seen = new Set<number>();
  tf.tidy(() => {
    const x = firstSamples(passes, SWAP_SAMPLES);
    const n = x.shape[0]!;
    const onReluInput = (_name: string, input: tf.Tensor) => {
      // Two ReLUs on one tensor give the same units twice: the set of patterns is unchanged.
      if (input.rank !== 4 || seen.has(input.id)) return;
      seen.add(input.id);
      const values = input.dataSync();
      const units = values.length / n;
      for (let u = 0; u < units; u++) {
        let bits = 0;
        for (let s = 0; s < n; s++) if (values[s * units + u]! > 0) bits |= 1 << s;
        patterns.add(bits);
      }
    };
    passes.inputs.net.forward(new TensorOps(passes.lookup, { onReluInput }), x);
  });
  return patterns.size;
}

/** The first `count` samples of the job's minibatches in draw order (fewer when they hold fewer). */
function firstSamples(passes: Passes, count: number): tf.Tensor {
  const xs = passes.minibatches().map((b) => b.x);
  const all = xs.length === 1 ? xs[0]! : tf.concat(xs, 0);
  return all.shape[0]! > count ? tf.slice(all, 0, count) : all;
}
