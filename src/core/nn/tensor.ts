import { tf } from '../backend';
import { avgPoolExcludePad } from './pool';
import type { BatchNormSpec, ConvSpec, LinearSpec, Ops, PoolSpec } from './ops';

type T = tf.Tensor;

/**
 * Per-channel batch mean and biased variance over N, H, W. Two passes (centre, then average the
 * squares), each a mean over H·W per sample followed by a mean over the batch: float32 sums that
 * short keep the statistics accurate enough to reproduce NASLib's ReLU signs (the fixtures).
 */
export function batchStatistics(x: T, withVariance = true): { mean: T; variance: T } {
  const mean = tf.mean(tf.mean(x, [1, 2]), 0);
  if (!withVariance) return { mean, variance: mean };
  const variance = tf.mean(tf.mean(tf.square(tf.sub(x, mean)), [1, 2]), 0);
  return { mean, variance };
}

/** What a forward pass records for the proxies, beyond its output. */
export interface ForwardHooks {
  /**
   * fisher: zero gains m_l per prunable layer, [N,1,1,C] (conv) or [N,C] (linear). The layer's raw
   * output A (bias included) becomes A + A·m_l, numerically A, so ∂L/∂m_l = Σ_{h,w} A ⊙ ∂L/∂A: the
   * per-sample, per-channel products fisher needs, without keeping any activation.
   */
  probes?: Map<string, T>;
  /** nwot: called with every ReLU module's input. */
  onReluInput?: (name: string, x: T) => void;
  /** zen: called with every batch norm's biased batch variance [C] and the element count per channel. */
  onBatchNormVariance?: (name: string, variance: T, count: number) => void;
}

/**
 * Training-mode tensors: batch norm normalises with the batch's mean and biased variance (ε from the
 * spec, 1e-5 by default) and gradients flow through those statistics, as NASLib's networks do.
 * Parameters come from `params` by name, so the same forward runs on injected, initial or
 * re-initialised weights, and inside tf.grads on the differentiated copies.
 */
export class TensorOps implements Ops<T> {
  featureMap: T | null = null;

  constructor(
    private readonly params: (name: string) => T,
    private readonly hooks: ForwardHooks = {},
  ) {}

  private layerOutput(name: string, raw: T): T {
    const probe = this.hooks.probes?.get(name);
    return probe ? tf.add(raw, tf.mul(raw, probe)) : raw;
  }

  conv(x: T, spec: ConvSpec): T {
    const p = spec.padding ?? 0;
    const s = spec.stride ?? 1;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [p, p], [p, p], [0, 0]];
    const w = this.params(`${spec.name}.weight`);
    const groups = spec.groups ?? 1;
    let y: T =
      groups > 1
        ? tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad, 'NHWC', spec.dilation ?? 1)
        : tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad, 'NHWC', spec.dilation ?? 1);
    if (spec.bias) y = tf.add(y, this.params(`${spec.name}.bias`));
    return this.layerOutput(spec.name, y);
  }

  batchNorm(x: T, spec: BatchNormSpec): T {
    const { mean, variance } = batchStatistics(x);
    const centred = tf.sub(x, mean);
    if (this.hooks.onBatchNormVariance) this.hooks.onBatchNormVariance(spec.name, variance, x.size / spec.channels);
    let y = tf.mul(centred, tf.rsqrt(tf.add(variance, spec.eps ?? 1e-5)));
    if (spec.affine) y = tf.add(tf.mul(y, this.params(`${spec.name}.weight`)), this.params(`${spec.name}.bias`));
    return y;
  }

  relu(x: T, name: string): T {
    this.hooks.onReluInput?.(name, x);
    return tf.relu(x);
  }

  avgPool(x: T, spec: PoolSpec): T {
    return avgPoolExcludePad(x, spec);
  }

  maxPool(x: T, spec: PoolSpec): T {
    return tf.maxPool(x as tf.Tensor4D, spec.kernel, spec.stride, spec.padding);
  }

  globalAvgPool(x: T): T {
    return tf.mean(x, [1, 2]);
  }

  linear(x: T, spec: LinearSpec): T {
    let y = tf.matMul(x as tf.Tensor2D, this.params(`${spec.name}.weight`) as tf.Tensor2D);
    if (spec.bias !== false) y = tf.add(y, this.params(`${spec.name}.bias`));
    return this.layerOutput(spec.name, y);
  }

  add(xs: T[]): T {
    return xs.length === 1 ? xs[0]! : tf.addN(xs);
  }

  zero(x: T): T {
    return tf.mul(x, 0);
  }

  feature(x: T): T {
    this.featureMap = x;
    return x;
  }
}
