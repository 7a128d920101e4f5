import { tf } from '../backend';
import { dilateKernel } from './dilation';
import { batchNormNode, batchStatistics } from './batch-norm';
import { channelCount, type BatchShard } from './batch-shard';
import { avgPoolExcludePad } from './pool';
import type { BatchNormSpec, ConvSpec, ConvTransposeSpec, LinearSpec, Ops, PoolSpec } from './ops';
import { CallCounter, convGeometryOf, convolve, knownConvolution, type LayerCache } from './replay';
import { recomputed, segmentParams, type SegmentIndex } from './segment';

type T = tf.Tensor;

/** What a forward pass records for the proxies, beyond its output. */
export interface ForwardHooks {
  /**
   * fisher: zero gains m_l per prunable layer and call, [N,1,1,C] (conv) or [N,C] (linear): the k-th
   * call of module l reads probes.get(l)[k] (jigsaw calls its encoder 9 times). The layer's raw output
   * A (bias included) becomes A + A·m, numerically A, so ∂L/∂m = Σ_{h,w} A ⊙ ∂L/∂A for that call: the
   * per-sample, per-channel products fisher needs, without keeping any activation.
   */
  probes?: Map<string, T[]>;
  /** nwot: called with every ReLU module's input. */
  onReluInput?: (name: string, x: T) => void;
  /** zen: called with every batch norm's biased batch variance [C] and the element count per channel. */
  onBatchNormVariance?: (name: string, variance: T, count: number) => void;
  /** meco: called with the output of every conv, batch norm, ReLU (each call), average pool, identity edge and segment. */
  onModuleOutput?: (name: string, y: T) => void;
  /** az_nas: called after every segment (a cell, a block) with its inputs, output and computation (to differentiate it alone). */
  onSegment?: (name: string, inputs: T[], output: T, fn: (ops: Ops<T>, inputs: T[]) => T) => void;
}

/**
 * Training-mode tensors: batch norm normalises with the batch's mean and biased variance (ε from the
 * spec, 1e-5 by default) and gradients flow through those statistics, as NASLib's networks do.
 * Parameters come from `params` by name, so the same forward runs on injected, initial or
 * re-initialised weights, and inside tf.grads on the differentiated copies.
 */
export class TensorOps implements Ops<T> {
  featureMap: T | null = null;

  private readonly calls: CallCounter;
  private readonly cache?: LayerCache;
  /** Batch norm as plain ops, differentiable twice (nested tf.grads), instead of one first-order node. */
  private readonly secondOrder: boolean;
  /** The minibatch shard these tensors hold: batch norm's statistics are summed over every shard. */
  private readonly shard?: BatchShard;

  constructor(
    private readonly params: (name: string) => T,
    private readonly hooks: ForwardHooks = {},
    /** When given, segments are recomputed in the backward (only `probes` reach their ops). */
    private readonly segments?: SegmentIndex,
    /**
     * `cache`: convolution outputs of this network on these weights and inputs, kept by the first
     * forward and replayed by the others (replay.ts). `calls`: where call counting starts (segments).
     * `shard`: x is one shard of the minibatch (batch-norm statistics span every shard).
     */
    options: { cache?: LayerCache; calls?: CallCounter; secondOrder?: boolean; shard?: BatchShard } = {},
  ) {
    this.cache = options.cache;
    this.secondOrder = options.secondOrder ?? false;
    this.shard = options.shard;
    // Nested differentiation of batch norm's plain ops would not sum over the shards (zen's hooked forward has no backward).
    if (this.shard && this.secondOrder) throw new Error('a sharded forward keeps batch norm as one node: no secondOrder');
    this.calls = options.calls ?? new CallCounter();
  }

  /** The probe of call `k` of `name`, if the module is probed. */
  private probe(name: string, k: number): T | undefined {
    const list = this.hooks.probes?.get(name);
    if (!list) return undefined;
    const probe = list[k];
    if (!probe) throw new Error(`no fisher probe for call ${k + 1} of ${name} (${list.length} traced)`);
    return probe;
  }

  private layerOutput(name: string, k: number, raw: T): T {
    const probe = this.probe(name, k);
    // raw·(1 + m) keeps one extra activation for the backward; raw + raw·m would keep two.
    return probe ? tf.mul(raw, tf.add(probe, 1)) : raw;
  }

  conv(x: T, spec: ConvSpec): T {
    return this.output(
      spec.name,
      tf.tidy(() => this.convScoped(x, spec)),
    );
  }

  private output(name: string, y: T): T {
    this.hooks.onModuleOutput?.(name, y);
    return y;
  }

  private convScoped(x: T, spec: ConvSpec): T {
    const geometry = convGeometryOf(spec);
    // Dilation as a zero-inserted kernel at dilation 1: exact, differentiable, and allowed with stride 2.
    const w = dilateKernel(this.params(`${spec.name}.weight`), spec.dilation ?? 1);
    const k = this.calls.next(spec.name);
    const key = `${spec.name}#${k}`;
    const known = this.cache?.get(key);
    let y = known ? knownConvolution(known, [{ x, filter: w }], geometry) : convolve(x, w, geometry);
    if (!known) this.cache?.put(key, y);
    if (spec.bias) y = tf.add(y, this.params(`${spec.name}.bias`));
    return this.layerOutput(spec.name, k, y);
  }

  // Ops run in their own tidy: inside tf.grads only what the backward saves survives an op, so the
  // forward's peak is the saved activations, not every intermediate (tfjs frees the rest at the end).
  batchNorm(x: T, spec: BatchNormSpec): T {
    return this.output(
      spec.name,
      tf.tidy(() => this.batchNormScoped(x, spec)),
    );
  }

  private batchNormScoped(x: T, spec: BatchNormSpec): T {
    const eps = spec.eps ?? 1e-5;
    // zen reads the batch variance: its forward (no backward) keeps the plain ops.
    if (!this.secondOrder && !this.hooks.onBatchNormVariance) {
      return batchNormNode(x, spec.affine ? this.params(`${spec.name}.weight`) : null, spec.affine ? this.params(`${spec.name}.bias`) : null, eps, this.shard);
    }
    const { centred, variance } = batchStatistics(x, this.shard);
    if (this.hooks.onBatchNormVariance) this.hooks.onBatchNormVariance(spec.name, variance, channelCount(x, this.shard));
    // γ/σ folded into one per-channel factor: one full-size product (the backward keeps fewer activations).
    let factor = tf.rsqrt(tf.add(variance, eps));
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
    return this.output(name, y);
  }

  avgPool(x: T, spec: PoolSpec): T {
    return this.output(spec.name, avgPoolExcludePad(x, spec));
  }

  identity(x: T, name: string): T {
    return this.output(name, x);
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
    return this.layerOutput(spec.name, this.calls.next(spec.name), y);
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

  concat(xs: T[]): T {
    return xs.length === 1 ? xs[0]! : tf.concat(xs, 3);
  }

  sliceChannels(x: T, channels: number): T {
    return channels === x.shape[3] ? x : tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, channels]);
  }

  dropFirstRowColumn(x: T): T {
    return tf.slice(x, [0, 1, 1, 0], [-1, -1, -1, -1]);
  }

  shiftUpLeft(x: T): T {
    return tf.pad(tf.slice(x, [0, 1, 1, 0], [-1, -1, -1, -1]), [
      [0, 0],
      [0, 1],
      [0, 1],
      [0, 0],
    ]);
  }

  zeroReduce(x: T, stride: number, channels: number): T {
    const [n, h, w] = x.shape as number[];
    // Zeros tied to x by a 0-weighted corner element: the graph stays connected, every gradient is 0.
    const corner = tf.mul(tf.slice(x, [0, 0, 0, 0], [-1, 1, 1, 1]), 0);
    return tf.add(tf.zeros([n!, Math.ceil(h! / stride), Math.ceil(w! / stride), channels]), corner);
  }

  leakyRelu(x: T, name: string, alpha: number): T {
    this.hooks.onReluInput?.(name, x);
    return tf.leakyRelu(x, alpha);
  }

  tanh(x: T): T {
    return tf.tanh(x);
  }

  convTranspose(x: T, spec: ConvTransposeSpec): T {
    const [n, h, w] = x.shape as number[];
    const ho = (h! - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    const wo = (w! - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    // The input-gradient of conv(k, stride, padding) evaluated for an Ho×Wo map is PyTorch's transposed conv.
    let y: T = tf.conv2dTranspose(
      x as tf.Tensor4D,
      this.params(`${spec.name}.weight`) as tf.Tensor4D,
      [n!, ho, wo, spec.outChannels],
      spec.stride,
      spec.padding,
    );
    if (spec.bias !== false) y = tf.add(y, this.params(`${spec.name}.bias`));
    return y;
  }

  globalMean(x: T): T {
    return tf.mean(x, [1, 2]);
  }

  tile(x: T, index: number): T {
    const [n, , h, w, c] = x.shape as number[];
    return tf.reshape(tf.slice(x, [0, index, 0, 0, 0], [-1, 1, -1, -1, -1]), [n!, h!, w!, c!]);
  }

  segment(name: string, inputs: T[], fn: (ops: Ops<T>, inputs: T[]) => T): T {
    const info = this.segments?.get(name);
    // Kept: the tape saves what a backward needs; the rest of the segment is freed here.
    if (!info) {
      const y = this.output(
        name,
        tf.tidy(() => fn(this, inputs)),
      );
      this.hooks.onSegment?.(name, inputs, y, fn);
      return y;
    }
    const probes = this.hooks.probes;
    const probed = probes ? info.modules.filter((m) => probes.has(m)) : [];
    const k = inputs.length;
    const np = info.params.length;
    // Each module of the segment runs once per segment call: its call index is fixed here, so the
    // recomputation reads this call's probes and cached outputs.
    const base = this.calls.enter(info.modules);
    const args = [...inputs, ...info.params.map((p) => this.params(p)), ...probed.map((m) => this.probe(m, base.get(m)!)!)];
    const [out] = recomputed((a) => {
      const params = segmentParams(name, info, a.slice(k, k + np));
      const innerProbes = new Map(
        probed.map((m, i) => {
          const list: T[] = [];
          list[base.get(m)!] = a[k + np + i]!;
          return [m, list];
        }),
      );
      const inner = new TensorOps(params, { probes: innerProbes }, undefined, { cache: this.cache, calls: new CallCounter(base), shard: this.shard });
      return [fn(inner, a.slice(0, k))];
    }, args);
    return out!;
  }
}
