/**
 * The vocabulary networks are written in. A search space's network is one function
 * `forward(ops, x)` over this interface; each implementation gives it a meaning:
 * - `ShapeOps` (shape.ts): shapes only: parameter list, params/flops counts (NASLib's tensorwatch
 *   rules), activation sizes for memory estimates. No tensors.
 * - `TensorOps` (tensor.ts): tfjs tensors in training mode, with the hooks the proxies read.
 * - `SynflowOps` (synflow.ts): |θ|, no batch norm, per-tensor scale exponents so float32 never overflows.
 *
 * Every op that owns parameters or is a "module" in PyTorch terms takes a module name; names follow
 * NASLib/PyTorch (`cells.3.edge.0-2.conv`), so weights can be injected by name.
 */

import type { ParamSpec } from './params';

export interface ConvSpec {
  /** Module name; the weight is `${name}.weight` (and `${name}.bias`). */
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  /** Symmetric zero padding per side (PyTorch style). */
  padding?: number;
  dilation?: number;
  /** groups === inChannels === outChannels: depthwise. */
  groups?: number;
  bias?: boolean;
  /** Overrides the network's init rule for this module (TNB decoders: PyTorch default inside a 'tnb' network). */
  init?: NetworkDef['init'];
}

/**
 * PyTorch ConvTranspose2d: output (H−1)·stride − 2·padding + kernel + outputPadding. Not a prunable
 * layer (not in 𝒫), no flops (tensorwatch), but its parameters count in params. Weight layout
 * [k, k, out, in] (tfjs conv2dTranspose); PyTorch's fan_in for its default init is out·k·k.
 */
export interface ConvTransposeSpec {
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  outputPadding: number;
  bias?: boolean;
}

export interface BatchNormSpec {
  name: string;
  channels: number;
  /** Learnable γ, β (`${name}.weight`, `${name}.bias`). */
  affine: boolean;
  eps?: number;
  momentum?: number;
}

export interface LinearSpec {
  name: string;
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  /** Overrides the network's init rule for this module. */
  init?: NetworkDef['init'];
}

export interface PoolSpec {
  name: string;
  kernel: number;
  stride: number;
  padding: number;
}

export interface Ops<T> {
  conv(x: T, spec: ConvSpec): T;
  batchNorm(x: T, spec: BatchNormSpec): T;
  relu(x: T, name: string): T;
  /** Average pooling that excludes padded cells from the count (count_include_pad = False). */
  avgPool(x: T, spec: PoolSpec): T;
  maxPool(x: T, spec: PoolSpec): T;
  /** Adaptive average pool to 1×1, flattened to [N, C]. */
  globalAvgPool(x: T, name: string): T;
  linear(x: T, spec: LinearSpec): T;
  /** Sum of same-shaped tensors (a cell node). */
  add(xs: T[]): T;
  /** NASLib's `Zero` op: x·0, same shape, keeps the graph connected (gradients are exact zeros). */
  zero(x: T): T;
  /** An identity module (NB201's skip_connect edge): returns x; hooks that count modules see it. */
  identity(x: T, name: string): T;
  /** Marks the feature map Φ that zen reads (the input of the final global pool). Returns x. */
  feature(x: T): T;
  /** Channel concatenation (axis 3) in the listed order; no module, no flops. */
  concat(xs: T[]): T;
  /** The first `channels` channels (NB101's Truncate); no flops. */
  sliceChannels(x: T, channels: number): T;
  /** x[:, 1:, 1:, :]: drops the first row and column (DARTS/NASLib factorized reduce); no flops. */
  dropFirstRowColumn(x: T): T;
  /** Shift up-left by one pixel, a zero row/column appended at the bottom/right (TNB factorized reduce); same shape, no flops. */
  shiftUpLeft(x: T): T;
  /** Zeros [N, ⌈H/stride⌉, ⌈W/stride⌉, channels] (a Zero op that changes shape); gradients are exact zeros. */
  zeroReduce(x: T, stride: number, channels: number): T;
  /** LeakyReLU module (flops: input elements); nwot counts its input like a ReLU's. */
  leakyRelu(x: T, name: string, alpha: number): T;
  /** Tanh module (0 flops). */
  tanh(x: T, name: string): T;
  convTranspose(x: T, spec: ConvTransposeSpec): T;
  /** A plain mean over H and W (torch.mean, not a module: no flops), flattened to [N, C]. */
  globalMean(x: T): T;
  /** Tile `index` of a tiled input [N, tiles, H, W, C] (jigsaw) → [N, H, W, C]; no flops. */
  tile(x: T, index: number): T;
  /**
   * `fn(ops, inputs)`, marked as one segment (a cell, a block, a decoder layer) that a memory-bound
   * backward may recompute instead of keeping (segment.ts). `fn` must use the `ops` it is given and
   * read nothing else that a gradient flows to; a name always denotes the same computation.
   * Segments do not nest: an inner one is part of the outer.
   */
  segment(name: string, inputs: T[], fn: (ops: Ops<T>, inputs: T[]) => T): T;
}

/** A network: its forward pass in the Ops vocabulary, and how its weights are initialised. */
export interface NetworkDef {
  /** Init rule for conv/linear weights (PyTorch default, NB101's archai rule, TNB's He fan-out). */
  init: 'torch' | 'nb101' | 'tnb';
  /** NHWC input of one sample; a tiled input (jigsaw) has the tile axis first: [9, 64, 64, 3]. */
  inputShape: number[];
  outputs: number;
  forward<T>(ops: Ops<T>, x: T): T;
  /**
   * Parameters of modules that are built but never run (TNB's GAN discriminator): they are in 𝒫
   * (l2_norm sums their weights; gradient proxies get 0 from them) but not in params/flops.
   */
  unusedParams?: ParamSpec[];
  /**
   * How many forward hooks see a module's output in the authors' PyTorch model of this space, where
   * containers (Sequential, a cell, a stage) are hooked too: MeCo sums one term per hook call. Absent:
   * each module output counts once.
   */
  moduleHookCalls?(module: string): number;
}
