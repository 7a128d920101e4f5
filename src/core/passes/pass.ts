import type { Passes } from './passes';

/**
 * A pass's share of a job's peak memory, as memory.ts plans it: copies of the traced forward
 * activations (ShapeOps counts one float per op output), except `loss` (copies of the network's output):
 * - `activation`: every activation kept. Fitted to the growth of the tfjs engine's peak bytes with the
 *   batch size (one job per fresh process, on wasm, where it bounded the heap's growth) on TNB-micro
 *   class_scene and autoencoder, rounded up by about a quarter; NB201, NB101 and NB301 grow less.
 * - `boundary`, `segment`: with recomputed segments, copies of the boundary activations (outside
 *   segments, and segment outputs) and of the largest segment's activations, fitted the same way to
 *   those two networks (different boundary-to-segment ratios); the boundary copies raised to cover
 *   NB301's growth (its boundaries dominate).
 * - `loss`: copies of the network's output the loss and its derivatives hold (nothing for a
 *   classifier's [B, K], but a Taskonomy decoder's [32, 256, 256, K] output is 143 MB for
 *   segmentsemantic); measured as tfjs engine peak bytes for the pixel-wise cross-entropy.
 * - `recomputingCache`: copies of the layer cache a recomputing pass keeps besides the shared one.
 * - `extraMinibatches`: minibatches held besides the job's own (input and target).
 * - `extraParamCopies`: parameter-sized copies held besides the six every job plans.
 */
export interface PassMemory {
  activation: number;
  boundary: number;
  segment: number;
  loss: number;
  recomputingCache?: number;
  /** Minibatches (inputs and targets) held besides the job's own: the second minibatch. */
  extraMinibatches?: number;
  /** Copies of the parameters held besides the six every job plans (zico's gradients, az_nas's weights). */
  extraParamCopies?: number;
}

/**
 * One pass over a job's network, shared by the proxies that read it: one file per pass
 * (src/core/passes/<name>.ts, or the proxy's file when only that proxy reads it), listed once in
 * the registry (index.ts). `Passes` runs each at most once per evaluation and times it.
 */
export interface PassDefinition<N extends string = string, R = unknown> {
  name: N;
  /** Passes that run first (their times are their own; a proxy's time adds them up). */
  dependencies: readonly PassDefinition[];
  memory: PassMemory;
  /** Runs a backward over the network, so it can recompute segments instead of keeping them. */
  recomputable: boolean;
  /** Runs the network on the shared weights and minibatch: it fills or replays the layer cache. */
  cached: boolean;
  /** Runs no backward: its segments are freed as they end. */
  forwardOnly: boolean;
  /**
   * Computes the whole minibatch's result on one shard of it (`passes.inputs.shard`), summing what
   * spans the batch over the shards: a job beyond one wasm heap runs it on several (src/core/shards).
   */
  shardable?: boolean;
  /** Absent for the stages the caller times (build, data). */
  run?(passes: Passes): R;
  /** Frees the tensors of a result at the end of the evaluation. */
  dispose?(result: R): void;
}

/** A definition, its name kept as a literal type (the registry derives PassName from them). */
export function definePass<const N extends string, R = undefined>(definition: PassDefinition<N, R>): PassDefinition<N, R> {
  return definition;
}

/** What a pass without tensors (build, data, synflow's scalars) adds to the plan. */
export const NO_MEMORY: PassMemory = { activation: 0, boundary: 0, segment: 0, loss: 0 };
