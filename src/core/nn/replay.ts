import { tf } from '../backend';
import { runCustomNode } from '../kernels/util';
import type { ConvSpec } from './ops';

/**
 * Convolution outputs shared between passes. The jacobian, gradient, forward (nwot) and hessian
 * passes all run the same network on the same weights and minibatch: the first of them keeps each
 * convolution's output here, and the others (and every recomputation of a segment) replay it as a
 * tape node that has the convolution's gradients but does no forward work. Convolutions are ~80 % of
 * a pass; batch norms and ReLUs are cheap to run again and are not kept.
 *
 * Keys are module calls (`name#k`: the k-th call of the module in one forward), so a module that
 * runs several times (jigsaw's encoder, once per tile) has one entry per call.
 */
export class LayerCache {
  private readonly outputs = new Map<string, tf.Tensor>();

  get(key: string): tf.Tensor | undefined {
    return this.outputs.get(key);
  }

  /** Keep `value` (a clone: it shares the data) beyond the tidy that made it. */
  put(key: string, value: tf.Tensor): void {
    if (this.outputs.has(key)) throw new Error(`layer cache: ${key} is already kept`);
    this.outputs.set(key, tf.keep(tf.clone(value)));
  }

  get size(): number {
    return this.outputs.size;
  }

  dispose(): void {
    for (const t of this.outputs.values()) t.dispose();
    this.outputs.clear();
  }
}

/**
 * Counts module calls in one forward. A recomputed segment counts from where the enclosing forward
 * was when it entered the segment (`base`), so a recomputation finds the same keys as the first run.
 */
export class CallCounter {
  private readonly counts: Map<string, number>;

  constructor(base?: ReadonlyMap<string, number>) {
    this.counts = new Map(base);
  }

  /** The index of this call of `module` (0 for its first call). */
  next(module: string): number {
    const k = this.counts.get(module) ?? 0;
    this.counts.set(module, k + 1);
    return k;
  }

  /** The call index each of `modules` has in a segment entered now (each runs once per segment call). */
  enter(modules: readonly string[]): Map<string, number> {
    return new Map(modules.map((m) => [m, this.next(m)]));
  }
}

/** A convolution as the networks run it: conv2d or depthwise, explicit padding, dilation folded into the kernel. */
export interface ConvGeometry {
  depthwise: boolean;
  stride: number;
  pad: [[number, number], [number, number], [number, number], [number, number]];
}

/** A conv module's geometry (its dilation is applied to the kernel by dilateKernel). */
export function convGeometryOf(spec: ConvSpec): ConvGeometry {
  const p = spec.padding ?? 0;
  return {
    depthwise: (spec.groups ?? 1) > 1,
    stride: spec.stride ?? 1,
    pad: [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ],
  };
}

/** One term of a sum of convolutions. */
export interface ConvTerm {
  x: tf.Tensor;
  filter: tf.Tensor;
}

export function convolve(x: tf.Tensor, filter: tf.Tensor, g: ConvGeometry): tf.Tensor {
  return g.depthwise
    ? tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, g.stride, g.pad, 'NHWC', 1)
    : tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, g.stride, g.pad, 'NHWC', 1);
}

/**
 * Σ_i conv(x_i, filter_i), whose value is already known, as one tape node: its gradients are the
 * convolutions' registered ones (the same a computed convolution would get), each a thunk, so a
 * backward computes only those it needs (the jacobian pass no filter gradient).
 */
export function knownConvolution(value: tf.Tensor, terms: readonly ConvTerm[], g: ConvGeometry): tf.Tensor {
  const kernel = g.depthwise ? tf.DepthwiseConv2dNative : tf.Conv2D;
  // The attributes tfjs' conv2d / depthwiseConv2d ops give the kernel (its gradient reads them).
  const attrs = g.depthwise
    ? { strides: g.stride, pad: g.pad, dilations: 1, dimRoundingMode: undefined }
    : { strides: g.stride, pad: g.pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined };
  const inputs = terms.flatMap((t) => [t.x, t.filter]);
  const [out] = runCustomNode({
    forwardFunc: (_backend, save) => {
      save(inputs);
      return tf.clone(value);
    },
    backwardsFunc: (dy, saved) => {
      const grad = tf.getGradient(kernel);
      const thunks: Record<string, () => tf.Tensor> = {};
      terms.forEach((_, i) => {
        let termGrads: ReturnType<tf.GradConfig['gradFunc']> | null = null;
        const of = () => (termGrads ??= grad.gradFunc(dy as tf.Tensor, [saved[2 * i]!, saved[2 * i + 1]!], attrs as unknown as tf.NamedAttrMap));
        thunks[String(2 * i)] = () => of()['x']!();
        thunks[String(2 * i + 1)] = () => of()['filter']!();
      });
      return thunks;
    },
    inputs: Object.fromEntries(inputs.map((t, i) => [String(i), t])),
  });
  return out!;
}
