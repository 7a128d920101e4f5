import { tf } from '../backend';
import { runCustomNode } from '../kernels/util';
import { dilateKernel } from './dilation';
import type { BatchNormSpec, ConvSpec, ConvTransposeSpec, LinearSpec, Ops, PoolSpec } from './ops';
import { avgPoolExcludePad } from './pool';
import { CallCounter, convGeometryOf, convolve, knownConvolution, type ConvGeometry, type ConvTerm, type LayerCache } from './replay';
import { recomputed, segmentParams, type SegmentIndex } from './segment';
import { batchNormNode, batchStatistics, dualBatchNorm } from './batch-norm';
import type { BatchShard } from './batch-shard';

/** A value and its directional derivative along the weight direction (null: exactly zero). */
export interface Dual {
  v: tf.Tensor;
  t: tf.Tensor | null;
}

/** tf.tidy for a Dual (tidy keeps tensors, not nulls). */
function tidyDual(fn: () => Dual): Dual {
  const [v, t] = tf.tidy(() => {
    const d = fn();
    return d.t ? [d.v, d.t] : [d.v];
  });
  return { v: v!, t: t ?? null };
}

function addTangents(ts: (tf.Tensor | null)[]): tf.Tensor | null {
  const present = ts.filter((t): t is tf.Tensor => t !== null);
  if (present.length === 0) return null;
  return present.length === 1 ? present[0]! : tf.addN(present);
}

/**
 * Forward-mode differentiation of the training-mode network along a weight direction: every
 * activation carries its tangent d/dε f(θ + ε·direction). grasp's Hessian-vector product is the
 * reverse-mode gradient of the loss's tangent, ∇_θ ⟨∇_θ L, g⟩ = H g: one dual forward and one
 * backward, instead of differentiating a whole backward pass (far less memory, same value).
 * Batch norm is differentiated through its batch statistics, as the forward normalises with them.
 */
export class TangentOps implements Ops<Dual> {
  // Ops run in their own tidy so that only what the backward saves outlives an op (see TensorOps).
  featureMap: Dual | null = null;

  private readonly calls: CallCounter;

  constructor(
    private readonly params: (name: string) => tf.Tensor,
    /** The direction for each weight by parameter name; absent: the weight is held constant. */
    private readonly direction: (name: string) => tf.Tensor | undefined,
    /** When given, segments are recomputed in the backward. */
    private readonly segments?: SegmentIndex,
    /**
     * `values`: convolution outputs of the same network, weights and inputs from an earlier pass
     * (replay.ts); `tangents`: the tangent convolutions' outputs, kept by the first run of a
     * recomputed segment for its recomputation; `calls`: where call counting starts; `shard`: the
     * values are one shard of the minibatch (batch-norm statistics span every shard).
     */
    private readonly options: { values?: LayerCache; tangents?: LayerCache; calls?: CallCounter; shard?: BatchShard } = {},
  ) {
    this.calls = options.calls ?? new CallCounter();
  }

  conv(x: Dual, spec: ConvSpec): Dual {
    return tidyDual(() => this.convScoped(x, spec));
  }

  /** conv(v, w) and its tangent conv(ṫ, w) + conv(v, ẇ), each replayed when an earlier run kept it. */
  private convScoped(x: Dual, spec: ConvSpec): Dual {
    const geometry = convGeometryOf(spec);
    // Dilation as a zero-inserted kernel (linear in w, so the direction dilates the same way).
    const w = dilateKernel(this.params(`${spec.name}.weight`), spec.dilation ?? 1);
    const key = `${spec.name}#${this.calls.next(spec.name)}`;
    let v = this.replayed(this.options.values, key, [{ x: x.v, filter: w }], geometry)!;
    if (spec.bias) v = tf.add(v, this.params(`${spec.name}.bias`));
    const dw = this.direction(`${spec.name}.weight`);
    const terms: ConvTerm[] = [];
    if (x.t) terms.push({ x: x.t, filter: w });
    if (dw) terms.push({ x: x.v, filter: dilateKernel(dw, spec.dilation ?? 1) });
    return { v, t: this.replayed(this.options.tangents, key, terms, geometry) };
  }

  /** Σ conv(terms): from `cache` when it holds `key`, else computed (and kept there). Null for no terms. */
  private replayed(cache: LayerCache | undefined, key: string, terms: ConvTerm[], geometry: ConvGeometry): tf.Tensor | null {
    if (terms.length === 0) return null;
    const known = cache?.get(key);
    if (known) return knownConvolution(known, terms, geometry);
    const convs = terms.map((t) => convolve(t.x, t.filter, geometry));
    const sum = convs.length === 1 ? convs[0]! : tf.addN(convs);
    cache?.put(key, sum);
    return sum;
  }

  batchNorm(x: Dual, spec: BatchNormSpec): Dual {
    return tidyDual(() => this.batchNormScoped(x, spec));
  }

  private batchNormScoped(x: Dual, spec: BatchNormSpec): Dual {
    const eps = spec.eps ?? 1e-5;
    if (x.t) {
      const gamma = spec.affine ? this.params(`${spec.name}.weight`) : null;
      const beta = spec.affine ? this.params(`${spec.name}.bias`) : null;
      const [v, t] = dualBatchNorm(x.v, x.t, gamma, beta, eps, this.options.shard);
      return { v, t };
    }
    // A shard's statistics span every shard: the node does, and its value is these ops' bit for bit.
    if (this.options.shard) {
      const affine = (p: string) => (spec.affine ? this.params(`${spec.name}.${p}`) : null);
      return { v: batchNormNode(x.v, affine('weight'), affine('bias'), eps, this.options.shard), t: null };
    }
    // γ/σ folded into one per-channel factor, exactly as TensorOps computes the value (so the value
    // path equals the primal passes' bit for bit, and the layer cache's convolution outputs with it).
    const { centred, variance } = batchStatistics(x.v);
    let factor = tf.rsqrt(tf.add(variance, eps));
    if (spec.affine) factor = tf.mul(factor, this.params(`${spec.name}.weight`));
    const y = tf.mul(centred, factor);
    return { v: spec.affine ? tf.add(y, this.params(`${spec.name}.bias`)) : y, t: null };
  }

  relu(x: Dual): Dual {
    return tidyDual(() => this.reluScoped(x));
  }

  private reluScoped(x: Dual): Dual {
    if (!x.t) return { v: tf.relu(x.v), t: null };
    const [v, t] = dualActivation(x.v, x.t, 0);
    return { v, t };
  }

  avgPool(x: Dual, spec: PoolSpec): Dual {
    return { v: avgPoolExcludePad(x.v, spec), t: x.t ? avgPoolExcludePad(x.t, spec) : null };
  }

  /**
   * The tangent of a max is the tangent at the window's first maximal element (PyTorch's argmax):
   * a gather of ẋ at those positions (found on the host from the values, which are constants here),
   * differentiated by a scatter-add. Two output-sized tensors, where window-by-window masks kept ~k²·10.
   */
  maxPool(x: Dual, spec: PoolSpec): Dual {
    return tidyDual(() => this.maxPoolScoped(x, spec));
  }

  private maxPoolScoped(x: Dual, spec: PoolSpec): Dual {
    const v = tf.maxPool(x.v as tf.Tensor4D, spec.kernel, spec.stride, spec.padding);
    if (!x.t) return { v, t: null };
    const indices = tf.tensor1d(firstMaxIndices(x.v.dataSync(), x.v.shape, v.shape, spec), 'int32');
    return { v, t: gatherAt(x.t, indices, v.shape) };
  }

  globalAvgPool(x: Dual): Dual {
    return { v: tf.mean(x.v, [1, 2]), t: x.t ? tf.mean(x.t, [1, 2]) : null };
  }

  linear(x: Dual, spec: LinearSpec): Dual {
    return tidyDual(() => this.linearScoped(x, spec));
  }

  private linearScoped(x: Dual, spec: LinearSpec): Dual {
    const w = this.params(`${spec.name}.weight`);
    let v = tf.matMul(x.v as tf.Tensor2D, w as tf.Tensor2D);
    if (spec.bias !== false) v = tf.add(v, this.params(`${spec.name}.bias`));
    const dw = this.direction(`${spec.name}.weight`);
    const t = addTangents([x.t ? tf.matMul(x.t as tf.Tensor2D, w as tf.Tensor2D) : null, dw ? tf.matMul(x.v as tf.Tensor2D, dw as tf.Tensor2D) : null]);
    return { v, t };
  }

  add(xs: Dual[]): Dual {
    if (xs.length === 1) return xs[0]!;
    return { v: tf.addN(xs.map((x) => x.v)), t: addTangents(xs.map((x) => x.t)) };
  }

  identity(x: Dual): Dual {
    return x;
  }

  zero(x: Dual): Dual {
    return { v: tf.mul(x.v, 0), t: null };
  }

  feature(x: Dual): Dual {
    this.featureMap = x;
    return x;
  }

  // Structural ops of the NB101/NB301/TNB networks (added with those spaces): linear in x, so the
  // tangent goes through the same op; a null tangent stays null.

  concat(xs: Dual[]): Dual {
    if (xs.length === 1) return xs[0]!;
    const v = tf.concat(
      xs.map((x) => x.v),
      3,
    );
    if (xs.every((x) => x.t === null)) return { v, t: null };
    return {
      v,
      t: tf.concat(
        xs.map((x) => x.t ?? tf.zerosLike(x.v)),
        3,
      ),
    };
  }

  sliceChannels(x: Dual, channels: number): Dual {
    if (channels === x.v.shape[3]) return x;
    const cut = (a: tf.Tensor) => tf.slice(a, [0, 0, 0, 0], [-1, -1, -1, channels]);
    return { v: cut(x.v), t: x.t ? cut(x.t) : null };
  }

  dropFirstRowColumn(x: Dual): Dual {
    const cut = (a: tf.Tensor) => tf.slice(a, [0, 1, 1, 0], [-1, -1, -1, -1]);
    return { v: cut(x.v), t: x.t ? cut(x.t) : null };
  }

  shiftUpLeft(x: Dual): Dual {
    const shift = (a: tf.Tensor) =>
      tf.pad(tf.slice(a, [0, 1, 1, 0], [-1, -1, -1, -1]), [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ]);
    return { v: shift(x.v), t: x.t ? shift(x.t) : null };
  }

  zeroReduce(x: Dual, stride: number, channels: number): Dual {
    const [n, h, w] = x.v.shape as number[];
    const corner = tf.mul(tf.slice(x.v, [0, 0, 0, 0], [-1, 1, 1, 1]), 0);
    return { v: tf.add(tf.zeros([n!, Math.ceil(h! / stride), Math.ceil(w! / stride), channels]), corner), t: null };
  }

  leakyRelu(x: Dual, _name: string, alpha: number): Dual {
    if (!x.t) return { v: tf.leakyRelu(x.v, alpha), t: null };
    const [v, t] = dualActivation(x.v, x.t, alpha);
    return { v, t };
  }

  tanh(x: Dual): Dual {
    const v = tf.tanh(x.v);
    return { v, t: x.t ? tf.mul(x.t, tf.sub(1, tf.square(v))) : null };
  }

  /** Not in 𝒫 (its weight is never in the direction): ż = convT(ẋ). */
  convTranspose(x: Dual, spec: ConvTransposeSpec): Dual {
    const [n, h, w] = x.v.shape as number[];
    const ho = (h! - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    const wo = (w! - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    const weight = this.params(`${spec.name}.weight`) as tf.Tensor4D;
    const up = (a: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, weight, [n!, ho, wo, spec.outChannels], spec.stride, spec.padding);
    let v = up(x.v);
    if (spec.bias !== false) v = tf.add(v, this.params(`${spec.name}.bias`));
    return { v, t: x.t ? up(x.t) : null };
  }

  globalMean(x: Dual): Dual {
    return { v: tf.mean(x.v, [1, 2]), t: x.t ? tf.mean(x.t, [1, 2]) : null };
  }

  tile(x: Dual, index: number): Dual {
    const [n, , h, w, c] = x.v.shape as number[];
    const cut = (a: tf.Tensor) => tf.reshape(tf.slice(a, [0, index, 0, 0, 0], [-1, 1, -1, -1, -1]), [n!, h!, w!, c!]);
    return { v: cut(x.v), t: x.t ? cut(x.t) : null };
  }

  /** A recomputed segment on duals: values and tangents go in and come out as separate tensors. */
  segment(name: string, inputs: Dual[], fn: (ops: Ops<Dual>, inputs: Dual[]) => Dual): Dual {
    const info = this.segments?.get(name);
    // Kept: the tape saves what a backward needs; the rest of the segment is freed here.
    if (!info) return tidyDual(() => fn(this, inputs));
    const flat: tf.Tensor[] = [];
    const hasTangent = inputs.map((d) => {
      flat.push(d.v);
      if (d.t) flat.push(d.t);
      return d.t !== null;
    });
    const k = flat.length;
    // Each module runs once per segment call: the recomputation finds this call's kept outputs.
    const base = this.calls.enter(info.modules);
    const [v, t] = recomputed(
      (a) => {
        let i = 0;
        const duals = hasTangent.map((has) => ({ v: a[i++]!, t: has ? a[i++]! : null }));
        const inner = new TangentOps(segmentParams(name, info, a.slice(k)), this.direction, undefined, { ...this.options, calls: new CallCounter(base) });
        const out = fn(inner, duals);
        return out.t ? [out.v, out.t] : [out.v];
      },
      [...flat, ...info.params.map((p) => this.params(p))],
    );
    return { v: v!, t: t ?? null };
  }
}

/** Flat index into x (NHWC) of each output's first maximal window element, row-major window order. */
function firstMaxIndices(x: ArrayLike<number>, inShape: number[], outShape: number[], spec: PoolSpec): Int32Array {
  const [n, h, w, c] = inShape as [number, number, number, number];
  const [, ho, wo] = outShape as [number, number, number, number];
  const { kernel: k, stride: s, padding: p } = spec;
  const out = new Int32Array(n * ho * wo * c);
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < ho; r++) {
      for (let q = 0; q < wo; q++) {
        for (let ch = 0; ch < c; ch++, o++) {
          let best = -Infinity;
          let at = -1;
          for (let i = 0; i < k; i++) {
            const row = r * s + i - p;
            if (row < 0 || row >= h) continue;
            for (let j = 0; j < k; j++) {
              const col = q * s + j - p;
              if (col < 0 || col >= w) continue;
              const idx = ((b * h + row) * w + col) * c + ch;
              if (at < 0 || x[idx]! > best) {
                best = x[idx]!;
                at = idx;
              }
            }
          }
          out[o] = at;
        }
      }
    }
  }
  return out;
}

/**
 * (Leaky) ReLU of a dual number as one tape node: v = max(x, αx), ṫ = ẋ·slope with slope 1 where
 * x > 0, else α (ReLU′(0) = 0 as in PyTorch: step(0) = 0). Its backward is slope·g for both inputs
 * and keeps only the slope, where autodiff kept x, ẋ and the masks and ran the masks' zero gradients.
 */
function dualActivation(x: tf.Tensor, xt: tf.Tensor, alpha: number): [tf.Tensor, tf.Tensor] {
  const [v, t] = runCustomNode({
    inputs: { x, xt },
    forwardFunc: (_backend, save) => {
      // 1·(1 − α) + α rounds to 1 and 0·(1 − α) + α is α in float32: the slope is exact.
      const slope = alpha === 0 ? tf.step(x) : tf.add(tf.mul(tf.step(x), 1 - alpha), alpha);
      save([slope]);
      return [alpha === 0 ? tf.relu(x) : tf.leakyRelu(x, alpha), tf.mul(xt, slope)];
    },
    backwardsFunc: (dys, [slope]) => {
      const [gv, gt] = dys as tf.Tensor[];
      return { x: () => tf.mul(gv!, slope!), xt: () => tf.mul(gt!, slope!) };
    },
  });
  return [v!, t!];
}

/** src's elements at flat `indices`, shaped `shape`; its gradient scatter-adds dy back (indices repeat where windows overlap). */
function gatherAt(src: tf.Tensor, indices: tf.Tensor, shape: number[]): tf.Tensor {
  const size = src.size;
  const srcShape = src.shape;
  const op = tf.customGrad((...inputs: unknown[]) => {
    const save = inputs[1] as tf.GradSaveFunc;
    const value = tf.reshape(tf.gather(tf.reshape(inputs[0] as tf.Tensor, [-1]), indices), shape);
    save([indices]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.reshape(tf.scatterND(tf.reshape(saved[0]!, [-1, 1]), tf.reshape(dy, [-1]), [size]), srcShape),
    };
  });
  return op(src);
}
