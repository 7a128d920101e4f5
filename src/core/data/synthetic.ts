import { createHash } from 'crypto';
import type { TaskName } from '../names';
import type { Rng } from '../rng';
import { TASK_SPECS, type TaskSpec } from '../tasks';
import type { Minibatch, Target } from '../types';

/**
 * Raw values of a task's real inputs: images in [0, 1] before normalisation, or values that are
 * not pixels at all (NinaPro's EMG signals, spherical CIFAR-100's projected floats), which are
 * used as stored. jigsaw has no normalisation but its tiles are [0, 1] images (docs/tasks.md §2),
 * so it gets uniform pixels like the other image tasks.
 */
export function syntheticInputKind(spec: TaskSpec): 'pixels' | 'signal' {
  return spec.normalize || spec.taskonomy ? 'pixels' : 'signal';
}

/**
 * A seeded batch with the task's real shapes and value ranges: pixels uniform in [0, 1] then
 * normalised as the task normalises; signal tasks standard normal; targets uniform over the
 * classes (soft targets: uniform over the probability simplex). Inputs and targets come from
 * separate streams ('inputs', 'targets') of the caller's data stream.
 */
export function syntheticMinibatch(task: TaskName, batchSize: number, rng: Rng): Minibatch {
  const spec = TASK_SPECS[task];
  const [H, W, C] = spec.inputShape;
  const B = batchSize;
  const inputShape = spec.tiles ? [B, spec.tiles, H, W, C] : [B, H, W, C];
  const inputs = new Float32Array(inputShape.reduce((a, b) => a * b, 1));
  const inputRng = rng.fork('inputs');
  if (syntheticInputKind(spec) === 'signal') {
    inputRng.fillNormal(inputs);
  } else {
    inputRng.fillUniform(inputs, 0, 1);
    if (spec.normalize) {
      const mean = spec.normalize.mean.map(Math.fround);
      const std = spec.normalize.std.map(Math.fround);
      for (let i = 0; i < inputs.length; i++) {
        const c = i % C;
        inputs[i] = Math.fround(inputs[i]! - mean[c]!) / std[c]!;
      }
    }
  }
  const target = syntheticTarget(spec, B, inputs, rng.fork('targets'));
  const h = createHash('sha256');
  h.update(bytesOf(inputs));
  h.update(bytesOf(targetArray(target)));
  return { inputs, inputShape, target, source: 'synthetic', sha256: h.digest('hex') };
}

function syntheticTarget(spec: TaskSpec, B: number, inputs: Float32Array, rng: Rng): Target {
  const [H, W] = spec.inputShape;
  const K = spec.outputs;
  switch (spec.loss) {
    case 'ce': {
      // Class indices; jigsaw: the index of one of the 1000 tile permutations.
      const labels = new Int32Array(B);
      for (let n = 0; n < B; n++) labels[n] = rng.int(K);
      return { kind: 'class', labels };
    }
    case 'soft_ce': {
      // Dirichlet(1, ..., 1): normalised exponential draws, uniform over the simplex.
      const probs = new Float32Array(B * K);
      const row = new Float64Array(K);
      for (let n = 0; n < B; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          row[k] = -Math.log(1 - rng.float());
          sum += row[k]!;
        }
        for (let k = 0; k < K; k++) probs[n * K + k] = row[k]! / sum;
      }
      return { kind: 'soft', probs, classes: K };
    }
    case 'mse':
      // room_layout: 9 values standardised with fixed mean/std, so standard normal.
      return { kind: 'dense', values: rng.fillNormal(new Float32Array(B * K)) as Float32Array, shape: [B, K] };
    case 'pixel_ce': {
      const labels = new Int32Array(B * H * W);
      for (let i = 0; i < labels.length; i++) labels[i] = rng.int(K);
      return { kind: 'pixel_class', labels, shape: [B, H, W] };
    }
    case 'l1':
      // autoencoder reconstructs its normalised input; normal predicts surface normals in [0, 1].
      if (spec.taskonomy?.target.kind === 'input') return { kind: 'dense', values: inputs.slice(), shape: [B, H, W, spec.outputs] };
      return { kind: 'dense', values: rng.fillUniform(new Float32Array(B * H * W * K), 0, 1) as Float32Array, shape: [B, H, W, K] };
  }
}

function targetArray(t: Target): Int32Array | Float32Array {
  switch (t.kind) {
    case 'class':
    case 'pixel_class':
      return t.labels;
    case 'soft':
      return t.probs;
    case 'dense':
      return t.values;
  }
}

function bytesOf(a: Int32Array | Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
