import type { BatchNormSpec, ConvSpec, ConvTransposeSpec, LinearSpec, NetworkDef, Ops, PoolSpec } from './ops';
import { batchNormParams, convParams, convTransposeParams, linearParams, numel, type ParamSpec } from './params';
import type { SegmentInfo } from './segment';

/** A shape: NHWC for feature maps, [N, F] after pooling. */
export type Shape = number[];

/**
 * Runs a network on shapes only. Gives the parameter list (modules that run, in execution order),
 * NASLib's params and flops counts (tensorwatch 0.9.1 rules: every executed leaf module counts its
 * own parameters once; flops per module from its LAST call), batch-norm modules, and the activation
 * sizes a memory estimate needs.
 */
export class ShapeOps implements Ops<Shape> {
  /** Parameters of executed modules, first-execution order. */
  readonly params: ParamSpec[] = [];
  readonly batchNorms: BatchNormSpec[] = [];
  /** Per-module flops of the last call (per batch element when traced with N = 1). */
  private readonly flopsByModule = new Map<string, number>();
  private readonly seenModules = new Set<string>();
  /** Elements of every op output, summed: what a training-mode forward keeps for its backward. */
  activationElements = 0;
  /** Largest single activation (elements). */
  maxActivationElements = 0;
  featureShape: Shape | null = null;
  /** Output shape of every conv/linear module (its last call), for fisher's probes. */
  readonly layerShapes = new Map<string, Shape>();
  /** Calls of every conv/linear module (fisher has a probe per call; jigsaw's encoder runs 9 times). */
  readonly layerCalls = new Map<string, number>();
  /** Segments by name: the parameters and modules each one reads (union over its calls). */
  readonly segments = new Map<string, SegmentInfo>();
  /** Elements a recomputing backward keeps: activations outside segments plus segment outputs. */
  boundaryElements = 0;
  /** Activation elements of the largest single segment call. */
  segmentPeakElements = 0;
  /** Output elements of every convolution call: what a layer cache (replay.ts) keeps. */
  convOutputElements = 0;
  /** Elements of the network's output (the loss's input). */
  outputElements = 0;
  private readonly paramNamesByModule = new Map<string, string[]>();
  private openSegment: { params: Set<string>; modules: Set<string>; elements: number } | null = null;

  get flops(): number {
    let total = 0;
    for (const f of this.flopsByModule.values()) total += f;
    return total;
  }

  get paramCount(): number {
    let total = 0;
    for (const p of this.params) total += numel(p.shape);
    return total;
  }

  private module(name: string, params: () => ParamSpec[], flops: number, out: Shape): Shape {
    if (!this.seenModules.has(name)) {
      this.seenModules.add(name);
      const own = params();
      this.params.push(...own);
      this.paramNamesByModule.set(
        name,
        own.map((p) => p.name),
      );
    }
    if (this.openSegment) {
      this.openSegment.modules.add(name);
      for (const p of this.paramNamesByModule.get(name)!) this.openSegment.params.add(p);
    }
    this.flopsByModule.set(name, flops);
    return this.activation(out);
  }

  private activation(out: Shape): Shape {
    const n = numel(out);
    this.activationElements += n;
    if (n > this.maxActivationElements) this.maxActivationElements = n;
    if (this.openSegment) this.openSegment.elements += n;
    else this.boundaryElements += n;
    return out;
  }

  segment(name: string, inputs: Shape[], fn: (ops: Ops<Shape>, inputs: Shape[]) => Shape): Shape {
    if (this.openSegment) return fn(this, inputs);
    const open = { params: new Set<string>(), modules: new Set<string>(), elements: 0 };
    this.openSegment = open;
    let out: Shape;
    try {
      out = fn(this, inputs);
    } finally {
      this.openSegment = null;
    }
    const known = this.segments.get(name);
    for (const p of known?.params ?? []) open.params.add(p);
    for (const m of known?.modules ?? []) open.modules.add(m);
    this.segments.set(name, { params: [...open.params], modules: [...open.modules] });
    this.segmentPeakElements = Math.max(this.segmentPeakElements, open.elements);
    this.boundaryElements += numel(out);
    return out;
  }

  conv(x: Shape, spec: ConvSpec): Shape {
    const [n, h, w, c] = x as [number, number, number, number];
    if (c !== spec.inChannels) throw new Error(`${spec.name}: input has ${c} channels, conv expects ${spec.inChannels}`);
    const k = spec.kernel;
    const s = spec.stride ?? 1;
    const p = spec.padding ?? 0;
    const d = spec.dilation ?? 1;
    const ho = Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;
    const wo = Math.floor((w + 2 * p - d * (k - 1) - 1) / s) + 1;
    const groups = spec.groups ?? 1;
    const cout = spec.outChannels;
    let flops = k * k * c * (cout / groups) * ho * wo;
    if (spec.bias) flops += cout * ho * wo;
    this.layerShapes.set(spec.name, [n, ho, wo, cout]);
    this.convOutputElements += n * ho * wo * cout;
    this.layerCalls.set(spec.name, (this.layerCalls.get(spec.name) ?? 0) + 1);
    return this.module(spec.name, () => convParams(spec), flops, [n, ho, wo, cout]);
  }

  batchNorm(x: Shape, spec: BatchNormSpec): Shape {
    if (x[3] !== spec.channels) throw new Error(`${spec.name}: input has ${x[3]} channels, batch norm expects ${spec.channels}`);
    if (!this.seenModules.has(spec.name)) this.batchNorms.push(spec);
    const per = numel(x) / x[0]!;
    return this.module(spec.name, () => batchNormParams(spec), per * (spec.affine ? 2 : 1), [...x]);
  }

  relu(x: Shape, name: string): Shape {
    return this.module(name, () => [], numel(x) / x[0]!, [...x]);
  }

  private pool(x: Shape, spec: PoolSpec): Shape {
    const [n, h, w, c] = x as [number, number, number, number];
    const ho = Math.floor((h + 2 * spec.padding - spec.kernel) / spec.stride) + 1;
    const wo = Math.floor((w + 2 * spec.padding - spec.kernel) / spec.stride) + 1;
    return this.module(spec.name, () => [], c * ho * wo * spec.kernel * spec.kernel, [n, ho, wo, c]);
  }

  avgPool(x: Shape, spec: PoolSpec): Shape {
    return this.pool(x, spec);
  }

  maxPool(x: Shape, spec: PoolSpec): Shape {
    return this.pool(x, spec);
  }

  globalAvgPool(x: Shape, name: string): Shape {
    const [n, h, w, c] = x as [number, number, number, number];
    // tensorwatch counts an adaptive pool to 1×1 as C·(H+1)·(W+1).
    return this.module(name, () => [], c * (h + 1) * (w + 1), [n, c]);
  }

  linear(x: Shape, spec: LinearSpec): Shape {
    if (x[1] !== spec.inFeatures) throw new Error(`${spec.name}: input has ${x[1]} features, linear expects ${spec.inFeatures}`);
    this.layerShapes.set(spec.name, [x[0]!, spec.outFeatures]);
    this.layerCalls.set(spec.name, (this.layerCalls.get(spec.name) ?? 0) + 1);
    return this.module(spec.name, () => linearParams(spec), spec.inFeatures * spec.outFeatures, [x[0]!, spec.outFeatures]);
  }

  add(xs: Shape[]): Shape {
    const first = xs[0]!;
    for (const s of xs) {
      if (s.length !== first.length || s.some((d, i) => d !== first[i])) {
        throw new Error(`add: shapes differ: ${JSON.stringify(xs)}`);
      }
    }
    return this.activation([...first]);
  }

  identity(x: Shape): Shape {
    return x;
  }

  zero(x: Shape): Shape {
    return this.activation([...x]);
  }

  feature(x: Shape): Shape {
    // A segment's tensors are freed when it ends: zen's Φ must be marked outside any segment.
    if (this.openSegment) throw new Error('feature() inside a segment');
    this.featureShape = [...x];
    return x;
  }

  concat(xs: Shape[]): Shape {
    const first = xs[0]!;
    for (const s of xs) {
      if (s.length !== 4 || s[0] !== first[0] || s[1] !== first[1] || s[2] !== first[2]) {
        throw new Error(`concat: shapes differ outside the channel axis: ${JSON.stringify(xs)}`);
      }
    }
    return this.activation([first[0]!, first[1]!, first[2]!, xs.reduce((c, s) => c + s[3]!, 0)]);
  }

  sliceChannels(x: Shape, channels: number): Shape {
    if (!(channels > 0 && channels <= x[3]!)) throw new Error(`sliceChannels: ${channels} of ${x[3]} channels`);
    return this.activation([x[0]!, x[1]!, x[2]!, channels]);
  }

  dropFirstRowColumn(x: Shape): Shape {
    return this.activation([x[0]!, x[1]! - 1, x[2]! - 1, x[3]!]);
  }

  shiftUpLeft(x: Shape): Shape {
    return this.activation([...x]);
  }

  zeroReduce(x: Shape, stride: number, channels: number): Shape {
    return this.activation([x[0]!, Math.ceil(x[1]! / stride), Math.ceil(x[2]! / stride), channels]);
  }

  leakyRelu(x: Shape, name: string, _alpha: number): Shape {
    return this.module(name, () => [], numel(x) / x[0]!, [...x]);
  }

  tanh(x: Shape, name: string): Shape {
    return this.module(name, () => [], 0, [...x]);
  }

  convTranspose(x: Shape, spec: ConvTransposeSpec): Shape {
    const [n, h, w, c] = x as [number, number, number, number];
    if (c !== spec.inChannels) throw new Error(`${spec.name}: input has ${c} channels, transposed conv expects ${spec.inChannels}`);
    const ho = (h - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    const wo = (w - 1) * spec.stride - 2 * spec.padding + spec.kernel + spec.outputPadding;
    // tensorwatch counts no flops for ConvTranspose2d.
    return this.module(spec.name, () => convTransposeParams(spec), 0, [n, ho, wo, spec.outChannels]);
  }

  globalMean(x: Shape): Shape {
    return this.activation([x[0]!, x[3]!]);
  }

  tile(x: Shape, index: number): Shape {
    if (x.length !== 5 || !(index >= 0 && index < x[1]!)) throw new Error(`tile ${index} of input ${JSON.stringify(x)}`);
    return this.activation([x[0]!, x[2]!, x[3]!, x[4]!]);
  }
}

/** Trace a network on a batch of `batch` samples. */
export function traceShapes(net: NetworkDef, batch = 1): ShapeOps {
  const ops = new ShapeOps();
  ops.outputElements = numel(net.forward(ops, [batch, ...net.inputShape]));
  return ops;
}
