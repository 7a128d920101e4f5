import type { ProxyDefinition } from './proxies/proxy';
import type { BuiltInProxyName, SpaceName, TaskName } from './names';

/** Where a minibatch comes from: seeded synthetic data, or a file/folder in a supported format. */
export type DataSpec =
  | { source: 'synthetic' }
  | { source: 'path'; path: string }
  /** A data set published by `zcbench data add` (a build spec names it; the producer resolves it per seed). */
  | { source: 'dataset'; dataset: string }
  | MinibatchObjectSpec;

/** A content-addressed object: sha256 (hex) and size. */
export interface ObjectRef {
  sha256: string;
  bytes: number;
}

/**
 * A job's drawn minibatches as objects (the producer sets the refs from the data set's manifest;
 * the worker fetches them into its verified cache and sets the local paths before computing).
 */
export interface MinibatchObjectSpec {
  source: 'minibatch';
  dataset: string;
  minibatch: ObjectRef;
  second: ObjectRef;
  path?: string;
  secondPath?: string;
}

/** A task's training target for one minibatch. */
export type Target =
  | { kind: 'class'; labels: Int32Array } // [B]
  | { kind: 'soft'; probs: Float32Array; classes: number } // [B, classes], rows sum to 1
  | { kind: 'dense'; values: Float32Array; shape: number[] } // regression target, e.g. [B, 9] or [B, H, W, 3]
  | { kind: 'pixel_class'; labels: Int32Array; shape: number[] }; // [B, H, W], class per pixel

/** One minibatch, framework-free (plain typed arrays), ready to become tensors. */
export interface Minibatch {
  /** NHWC float32, normalised and augmented; jigsaw: [B, 9, 64, 64, 3]. */
  inputs: Float32Array;
  inputShape: number[];
  target: Target;
  /** 'synthetic' or the path it was read from. */
  source: string;
  /** sha256 (hex) of the source data: the file bytes for a path, the generated batch for synthetic. */
  sha256: string;
  /** The files read and their sha256, where the source is a folder too large to hash whole (Taskonomy). */
  files?: readonly { path: string; sha256: string }[];
}

/** 'auto': recompute a pass's segments only where it would not fit wasm's memory otherwise; 'always' / 'never' force it. */
export type RecomputePolicy = 'auto' | 'always' | 'never';

/** 'auto': passes share convolution outputs where the job fits with them (memory.ts); 'never': each pass runs its own. */
export type LayerCachePolicy = 'auto' | 'never';

export interface ComputeRequest {
  space: SpaceName;
  task: TaskName;
  /** Architecture string exactly as NASLib's released json files write it. */
  arch: string;
  proxies: BuiltInProxyName[];
  /**
   * Proxies of user modules (docs/writing-a-proxy.md), computed on the same network, weights and
   * minibatch; one that throws fails alone (`moduleResults[name].error`).
   */
  modules?: ProxyDefinition[];
  seed: number;
  batchSize: number;
  data: DataSpec;
  /**
   * Whether backward passes recompute segments instead of keeping every activation: 'auto' (the
   * default) where a pass would not fit wasm's memory otherwise. Values agree within float tolerance.
   */
  recompute?: RecomputePolicy;
  /**
   * Whether passes share convolution outputs (nn/replay.ts): 'auto' (the default) where the job fits
   * with them. Same values (grasp's within float rounding), fewer convolutions.
   */
  layerCache?: LayerCachePolicy;
  /**
   * Split the minibatch of the backward passes (gradient, hessian, jacobian) between this many wasm
   * heaps, one thread each (src/core/shards), when each then fits; unset: only a job beyond one heap
   * is split, into as few as fit (up to ZC_WASM_SHARDS); 1: never. Values equal the unsplit job's up to float rounding.
   */
  shards?: number;
  /**
   * Bytes the job may hold in all (a worker's pool budget): a split whose heaps would together hold
   * more is not chosen (then fewer kept activations, else hybrid). Unset: no bound.
   */
  memoryBudget?: number;
}

export interface ProxyResult {
  /** NASLib-post-processed score (NaN/inf → -1e8; synflow logged). */
  score: number;
  /** Seconds this proxy would cost alone: network build + data + the passes it needs. */
  time: number;
}

export interface ComputeResult {
  space: SpaceName;
  task: TaskName;
  arch: string;
  seed: number;
  batchSize: number;
  backend: string;
  /** wasm heaps the shardable passes split the minibatch between (src/core/shards); absent: one. */
  shards?: number;
  data: { source: string; sha256: string };
  results: Partial<Record<BuiltInProxyName, ProxyResult>>;
  /** User modules' results by name (present when the request named modules). */
  moduleResults?: Record<string, ProxyResult | { error: string }>;
}
