import { tf } from '../backend';
import { dilateKernel } from './dilation';
import { avgPoolExcludePad } from './pool';
import type { BatchNormSpec, ConvSpec, ConvTransposeSpec, LinearSpec, Ops, PoolSpec } from './ops';

/**
 * A float32 tensor with a scale exponent: the true value is `t · exp(logScale)`. synflow's
 * activations grow by orders of magnitude per layer (ln R reaches 165) and overflow float32;
 * renormalising after every conv/linear keeps `t` near 1 while `logScale` carries the magnitude.
 */
export interface ScaledTensor {
  t: tf.Tensor;
  logScale: number;
}

/**
 * synflow's network: every parameter replaced by its absolute value, batch norm removed (identity),
 * all activations non-negative. By Σ_i W_i ∂R/∂W_i = Σ δ_l ⊙ (A_l − b_l), the score only needs, per
 * prunable layer, Σ ∂R̂/∂Â_l ⊙ (Â_l − b̂_l): a zero scalar gain m_l turns the layer's output
 * without bias into (Â − b̂)(1 + m_l), and ∂R̂/∂m_l is exactly that sum.
 */
export class SynflowOps implements Ops<ScaledTensor> {
  constructor(
    private readonly absParams: (name: string) => tf.Tensor,
    private readonly probes: Map<string, tf.Tensor>,
  ) {}

  private finishLayer(name: string, noBias: tf.Tensor, bias: tf.Tensor | null, x: ScaledTensor): ScaledTensor {
    const probe = this.probes.get(name);
    if (probe) noBias = tf.add(noBias, tf.mul(noBias, probe));
    // An exact zero input (logScale −∞) is zero at any scale: continue at scale 0.
    const inScale = Number.isFinite(x.logScale) ? x.logScale : 0;
    // Bias in the input's units: |b| / exp(logScale).
    const y = bias ? tf.add(noBias, tf.mul(bias, Math.exp(-inScale))) : noBias;
    const max = tf.max(y).dataSync()[0]!;
    if (!(max > 0)) return { t: y, logScale: inScale };
    return { t: tf.div(y, max), logScale: inScale + Math.log(max) };
  }

  conv(x: ScaledTensor, spec: ConvSpec): ScaledTensor {
    const p = spec.padding ?? 0;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ];
    const w = dilateKernel(this.absParams(`${spec.name}.weight`), spec.dilation ?? 1);
    const input = x.t as tf.Tensor4D;
    const y = (spec.groups ?? 1) > 1 ? tf.depthwiseConv2d(input, w, spec.stride ?? 1, pad, 'NHWC', 1) : tf.conv2d(input, w, spec.stride ?? 1, pad, 'NHWC', 1);
    return this.finishLayer(spec.name, y, spec.bias ? this.absParams(`${spec.name}.bias`) : null, x);
  }

  batchNorm(x: ScaledTensor, _spec: BatchNormSpec): ScaledTensor {
    return x;
  }

  relu(x: ScaledTensor): ScaledTensor {
    return { t: tf.relu(x.t), logScale: x.logScale };
  }

  avgPool(x: ScaledTensor, spec: PoolSpec): ScaledTensor {
    return { t: avgPoolExcludePad(x.t, spec), logScale: x.logScale };
  }

  maxPool(x: ScaledTensor, spec: PoolSpec): ScaledTensor {
    return { t: tf.maxPool(x.t as tf.Tensor4D, spec.kernel, spec.stride, spec.padding), logScale: x.logScale };
  }

  globalAvgPool(x: ScaledTensor): ScaledTensor {
    return { t: tf.mean(x.t, [1, 2]), logScale: x.logScale };
  }

  linear(x: ScaledTensor, spec: LinearSpec): ScaledTensor {
    const y = tf.matMul(x.t as tf.Tensor2D, this.absParams(`${spec.name}.weight`) as tf.Tensor2D);
    return this.finishLayer(spec.name, y, spec.bias !== false ? this.absParams(`${spec.name}.bias`) : null, x);
  }

  add(xs: ScaledTensor[]): ScaledTensor {
    if (xs.length === 1) return xs[0]!;
    // Align every branch to the largest scale; exact-zero branches (−∞) cannot set it.
    const logScale = Math.max(...xs.map((x) => x.logScale));
    if (logScale === -Infinity) return { t: tf.addN(xs.map((x) => x.t)), logScale };
    const terms = xs.map((x) => (x.logScale === logScale ? x.t : tf.mul(x.t, Math.exp(x.logScale - logScale))));
    return { t: tf.addN(terms), logScale };
  }

  identity(x: ScaledTensor): ScaledTensor {
    return x;
  }

  zero(x: ScaledTensor): ScaledTensor {
    return { t: tf.mul(x.t, 0), logScale: -Infinity };
  }

  feature(x: ScaledTensor): ScaledTensor {
    return x;
  }

  concat(xs: ScaledTensor[]): ScaledTensor {
    if (xs.length === 1) return xs[0]!;
    // One scale for all parts, as in add.
    const logScale = Math.max(...xs.map((x) => x.logScale));
    if (logScale === -Infinity)
      return {
        t: tf.concat(
          xs.map((x) => x.t),
          3,
        ),
        logScale,
      };
    const parts = xs.map((x) => (x.logScale === logScale ? x.t : tf.mul(x.t, Math.exp(x.logScale - logScale))));
    return { t: tf.concat(parts, 3), logScale };
  }

  sliceChannels(x: ScaledTensor, channels: number): ScaledTensor {
    return channels === x.t.shape[3] ? x : { t: tf.slice(x.t, [0, 0, 0, 0], [-1, -1, -1, channels]), logScale: x.logScale };
  }

  dropFirstRowColumn(x: ScaledTensor): ScaledTensor {
    return { t: tf.slice(x.t, [0, 1, 1, 0], [-1, -1, -1, -1]), logScale: x.logScale };
  }

  shiftUpLeft(x: ScaledTensor): ScaledTensor {
    return {
      t: tf.pad(tf.slice(x.t, [0, 1, 1, 0], [-1, -1, -1, -1]), [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ]),
      logScale: x.logScale,
    };
  }

  zeroReduce(x: ScaledTensor, stride: number, channels: number): ScaledTensor {
    const [n, h, w] = x.t.shape as number[];
    const corner = tf.mul(tf.slice(x.t, [0, 0, 0, 0], [-1, 1, 1, 1]), 0);
    return { t: tf.add(tf.zeros([n!, Math.ceil(h! / stride), Math.ceil(w! / stride), channels]), corner), logScale: -Infinity };
  }

  leakyRelu(x: ScaledTensor, _name: string, alpha: number): ScaledTensor {
    // Inputs are non-negative here (|θ|, ones, no BN), but keep the function exact anyway.
    return { t: tf.leakyRelu(x.t, alpha), logScale: x.logScale };
  }

  tanh(x: ScaledTensor): ScaledTensor {
    // tanh is not scale-equivariant: evaluate it on true values (saturated beyond e^80), result at scale 0.
    const scale = Number.isFinite(x.logScale) ? Math.exp(Math.min(x.logScale, 80)) : 0;
    return { t: tf.tanh(tf.mul(x.t, scale)), logScale: 0 };
  }

  convTranspose(x: ScaledTensor, spec: ConvTransposeSpec): ScaledTensor {
    const [n, h, w] = x.t.shape as number[];
    const ho = (h! - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    const wo = (w! - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    const weight = this.absParams(`${spec.name}.weight`) as tf.Tensor4D;
    const y = tf.conv2dTranspose(x.t as tf.Tensor4D, weight, [n!, ho, wo, spec.outChannels], spec.stride, spec.padding);
    // Not in 𝒫: no probe for it (finishLayer finds none), but its bias and renormalisation as a conv's.
    return this.finishLayer(spec.name, y, spec.bias !== false ? this.absParams(`${spec.name}.bias`) : null, x);
  }

  globalMean(x: ScaledTensor): ScaledTensor {
    return { t: tf.mean(x.t, [1, 2]), logScale: x.logScale };
  }

  tile(x: ScaledTensor, index: number): ScaledTensor {
    const [n, , h, w, c] = x.t.shape as number[];
    return { t: tf.reshape(tf.slice(x.t, [0, index, 0, 0, 0], [-1, 1, -1, -1, -1]), [n!, h!, w!, c!]), logScale: x.logScale };
  }

  /** synflow runs one sample with no batch norm: nothing to recompute. */
  segment(_name: string, inputs: ScaledTensor[], fn: (ops: Ops<ScaledTensor>, inputs: ScaledTensor[]) => ScaledTensor): ScaledTensor {
    return fn(this, inputs);
  }
}
