import { tf } from '../backend';
import { avgPoolExcludePad } from './pool';
import type { BatchNormSpec, ConvSpec, LinearSpec, Ops, PoolSpec } from './ops';

type T = tf.Tensor;

/**
 * Per-channel batch mean and biased variance over N, H, W. Two passes (centre, then average the
 * squares), each a mean over H·W per sample followed by a mean over the batch: float32 sums that
 * short keep the statistics accurate enough to reproduce NASLib's ReLU signs (the fixtures).
 */
export function batchStatistics(x: T): { mean: T; centred: T; variance: T } {
  const mean = batchMean(x);
  const centred = tf.sub(x, mean);
  return { mean, centred, variance: batchMean(tf.square(centred)) };
}

/** Per-channel mean over N, H, W, as a mean over H·W per sample then over the batch. */
export function batchMean(x: T): T {
  return tf.mean(tf.mean(x, [1, 2]), 0);
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
    // raw·(1 + m) keeps one extra activation for the backward; raw + raw·m would keep two.
    return probe ? tf.mul(raw, tf.add(probe, 1)) : raw;
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
    const { centred, variance } = batchStatistics(x);
    if (this.hooks.onBatchNormVariance) this.hooks.onBatchNormVariance(spec.name, variance, x.size / spec.channels);
    // γ/σ folded into one per-channel factor: one full-size product (the backward keeps fewer activations).
    let factor = tf.rsqrt(tf.add(variance, spec.eps ?? 1e-5));
    if (spec.affine) factor = tf.mul(factor, this.params(`${spec.name}.weight`));
    const y = tf.mul(centred, factor);
    return spec.affine ? tf.add(y, this.params(`${spec.name}.bias`)) : y;
  }

  /** ReLU outputs by input tensor: NB201's edges leaving one node share it (one activation, not three). */
  private readonly reluOutputs = new Map<number, T>();

  relu(x: T, name: string): T {
    this.hooks.onReluInput?.(name, x);
    let y = this.reluOutputs.get(x.id);
    if (!y || y.isDisposed) {
      y = tf.relu(x);
      this.reluOutputs.set(x.id, y);
    }
    return y;
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
