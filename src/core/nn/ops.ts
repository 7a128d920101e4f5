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
  /** Marks the feature map Φ that zen reads (the input of the final global pool). Returns x. */
  feature(x: T): T;
}

/** A network: its forward pass in the Ops vocabulary, and how its weights are initialised. */
export interface NetworkDef {
  /** Init rule for conv/linear weights (PyTorch default, NB101's archai rule, TNB's He fan-out). */
  init: 'torch' | 'nb101' | 'tnb';
  /** NHWC input of one sample. */
  inputShape: [number, number, number];
  outputs: number;
  forward<T>(ops: Ops<T>, x: T): T;
}
