import { tf } from './backend';
import { runCustomNode } from './kernels/util';
import { grad } from './nn/backprop';
import type { LossKind } from './tasks';
import type { Target } from './types';

/** A target as tensors: one-hot / soft class matrices, or dense regression values. */
export interface TargetTensor {
  kind: Target['kind'];
  /** [B, K] one-hot or probabilities; [B, H, W, K] one-hot per pixel; dense values as shaped. */
  values: tf.Tensor;
  /** Integer class per sample (epe_nas groups rows by it), when the target has classes. */
  classes?: Int32Array;
}

export function targetTensor(target: Target, outputs: number): TargetTensor {
  switch (target.kind) {
    case 'class':
      return { kind: 'class', values: oneHotFloat(target.labels, [target.labels.length], outputs), classes: target.labels };
    case 'soft': {
      const values = tf.tensor2d(target.probs, [target.probs.length / target.classes, target.classes]);
      return { kind: 'soft', values, classes: argmaxRows(target.probs, target.classes) };
    }
    case 'pixel_class':
      return { kind: 'pixel_class', values: oneHotFloat(target.labels, target.shape, outputs) };
    case 'dense':
      return { kind: 'dense', values: tf.tensor(target.values, target.shape) };
  }
}

/** One-hot in float32. (wasm's OneHot with dtype float32 writes integer bit patterns: cast instead.) */
function oneHotFloat(labels: Int32Array, shape: number[], depth: number): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor(labels, shape, 'int32'), depth), 'float32'));
}

function argmaxRows(values: Float32Array, width: number): Int32Array {
  const rows = values.length / width;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (values[r * width + c]! > values[r * width + best]!) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * log Σ exp(x) over `axis`, shifted by the row maximum m for stability. logsumexp(x) = m + log Σ exp(x − m)
 * holds for any constant m, so m is made a constant of the tape (a node with no inputs): every
 * derivative, second order included, is exact, and no backward builds the max's argmax mask (tfjs'
 * logSumExp differentiates through the max: a broadcast Equal over every logit, seconds per call on a
 * 256×256×17 segmentation output).
 */
export function logSumExp(x: tf.Tensor, axis: number): tf.Tensor {
  const [m] = runCustomNode({ forwardFunc: () => tf.max(x, axis, true), backwardsFunc: () => ({}), inputs: {} });
  return tf.add(tf.squeeze(m!, [axis]), tf.log(tf.sum(tf.exp(tf.sub(x, m!)), axis)));
}

/** The task's loss, always a mean (docs/proxies.md §0). */
export function taskLoss(kind: LossKind, output: tf.Tensor, target: TargetTensor): tf.Scalar {
  const axis = output.rank - 1;
  switch (kind) {
    case 'ce':
    case 'pixel_ce': {
      // mean over samples (and pixels) of logsumexp(z) − z_t
      const lse = logSumExp(output, axis);
      const picked = tf.sum(tf.mul(output, target.values), axis);
      return tf.mean(tf.sub(lse, picked));
    }
    case 'soft_ce': {
      const p = tf.softmax(output, axis);
      return tf.mean(tf.neg(tf.sum(tf.mul(target.values, tf.log(tf.add(p, 1e-5))), axis)));
    }
    case 'l1':
      return tf.mean(tf.abs(tf.sub(output, target.values)));
    case 'mse':
      return tf.mean(tf.square(tf.sub(output, target.values)));
  }
}

/**
 * L̇ = ⟨∂L/∂z, ż⟩, the loss's directional derivative along the output tangent ż (the hessian pass
 * differentiates it once more). Where the loss has a short closed form its gradients are written
 * out as one tape node, instead of autodiff of autodiff, whose tape held ~35 output-sized tensors
 * (on a 256×256×17 segmentation output, 5 GB at batch 32):
 *   ce, pixel_ce (N rows, p = softmax z):  ∂L/∂z = (p − t)/N;  ∂L̇/∂ż = (p − t)/N;  ∂L̇/∂z = p ⊙ (ż − ⟨p, ż⟩)/N
 *   mse (n elements):                       ∂L/∂z = 2(z − t)/n;  ∂L̇/∂ż = 2(z − t)/n;  ∂L̇/∂z = 2ż/n
 *   l1 (n elements):                        ∂L/∂z = s/n, s = 1 where z > t else −1 (tfjs' Abs gradient);  ∂L̇/∂ż = s/n;  ∂L̇/∂z = 0
 * soft_ce (log(p + 1e-5), a small class output) keeps autodiff.
 */
export function lossTangent(kind: LossKind, z: tf.Tensor, zdot: tf.Tensor, target: TargetTensor): tf.Scalar {
  if (kind === 'soft_ce') {
    const dLdz = grad((o) => taskLoss(kind, o, target), z);
    return tf.sum(tf.mul(dLdz, zdot));
  }
  const axis = z.rank - 1;
  const n = kind === 'ce' || kind === 'pixel_ce' ? z.size / z.shape[axis]! : z.size;
  const [value] = runCustomNode({
    inputs: { z, zdot },
    forwardFunc: (_backend, save) => {
      const dLdz = tf.tidy(() => {
        if (kind === 'mse') return tf.mul(tf.sub(z, target.values), 2 / n);
        if (kind === 'l1') return tf.div(tf.step(tf.sub(z, target.values), -1), n);
        return tf.div(tf.sub(tf.softmax(z, axis), target.values), n);
      });
      save([dLdz, zdot, ...(kind === 'mse' || kind === 'l1' ? [] : [z])]);
      return tf.sum(tf.mul(dLdz, zdot));
    },
    backwardsFunc: (dy, saved) => {
      const [dLdz, zd, zSaved] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const d = dy as tf.Tensor;
      return {
        zdot: () => tf.mul(dLdz, d),
        z: () =>
          tf.tidy(() => {
            if (kind === 'l1') return tf.zerosLike(zd);
            if (kind === 'mse') return tf.mul(zd, tf.mul(d, 2 / n));
            const p = tf.softmax(zSaved!, axis);
            return tf.mul(tf.mul(p, tf.sub(zd, tf.sum(tf.mul(p, zd), axis, true))), tf.div(d, n));
          }),
      };
    },
  });
  return value as tf.Scalar;
}
