import { evaluatePassesNeeded } from './evaluate';
import { keepsFlipsOf } from './kernels/filter-flips';
import { proxiesForTask, type BuiltInProxyName, type SpaceName, type TaskName } from './names';
import { numel } from './nn/params';
import { traceShapes, type ShapeOps } from './nn/shape';
import { PASSES, type PassName } from './passes';
import { searchSpace } from './spaces';
import { taskSpec, type TaskSpec } from './tasks';
import type { NetworkDef } from './nn/ops';
import type { LayerCachePolicy, RecomputePolicy } from './types';

export interface MemoryEstimateRequest {
  space: SpaceName;
  task: TaskName;
  arch: string;
  batchSize: number;
  proxies: BuiltInProxyName[];
  recompute?: RecomputePolicy;
  layerCache?: LayerCachePolicy;
  /** Whether and how the job may split its minibatch between wasm heaps (default: not). */
  shards?: ShardPolicy;
}

/*
 * Each pass's memory copies, and whether it recomputes, shares the layer cache or runs forward only,
 * are in its definition (src/core/passes/<name>.ts): the plan below reads them from PASSES.
 */

/**
 * A pass whose peak with every activation kept would exceed this recomputes its segments instead.
 * wasm's addressable memory (less headroom): the same rule on every backend, so a job's plan, its
 * memory estimate and its arithmetic do not depend on where it runs.
 */
export const RECOMPUTE_ABOVE_BYTES = 3.5 * 2 ** 30;

/** Runtime, backend and allocator overhead of a worker child, bytes. */
const BASELINE_BYTES = 256 * 2 ** 20;

/**
 * A job beyond wasm's heap runs on `hybrid` (compute.ts), whose whole-tensor kernels and convolution
 * slices stage their operands in a wasm heap of their own, next to the tensors: measured, TNB-macro
 * (3, 3, 2, 1, 3, 1) at batch 32 peaked 504 MB above its tensors' plan.
 */
const HYBRID_STAGING_BYTES = 768 * 2 ** 20;

/**
 * How many wasm heaps a job's shardable passes may split its minibatch between: up to `max` when it
 * does not fit one, at least `min` where each fits (a one-job pod's cores), or `exactly` that many (a
 * request's `shards`) when each heap then fits; never more bytes in all than `budgetBytes`.
 */
export interface ShardPolicy {
  max: number;
  min?: number;
  exactly?: number;
  budgetBytes?: number;
}

export interface MemoryPlan {
  /** Estimated peak bytes of the job. */
  peakBytes: number;
  /** Passes that recompute segments. */
  recomputed: Set<PassName>;
  /** Whether the passes share convolution outputs (nn/replay.ts); with shards, the shards' passes (the unsplit ones do not). */
  cacheLayers: boolean;
  /** wasm heaps the minibatch of the shardable passes is split between (src/core/shards); 1: not split. */
  shards: number;
}

/**
 * Peak bytes a job needs, from the network's shapes (no tensor is allocated): parameters (weights,
 * gradients, Hg, zen's and synflow's copies), the minibatch, and float32 activations at the batch
 * size times the copies of the most demanding pass requested (fewer where a pass recomputes).
 */
export function estimateJobMemory(req: MemoryEstimateRequest): number {
  const space = searchSpace(req.space);
  const task = taskSpec(req.task);
  return planMemory(space.network(space.parse(req.arch), task), task, req.batchSize, req.proxies, req.recompute, req.layerCache, req.shards).peakBytes;
}

/**
 * What a job needs against a memory budget: the automatic plan when it fits, else recomputing every
 * backward pass's segments if that needs less (same values, less memory). A worker runs the job
 * with this plan; `needed` above the budget sends it to a bigger pool.
 */
export function planJobMemory(req: Omit<MemoryEstimateRequest, 'recompute'>, budgetBytes: number): { needed: number; recompute: 'auto' | 'always' } {
  const auto = estimateJobMemory(req);
  if (auto <= budgetBytes) return { needed: auto, recompute: 'auto' };
  const always = estimateJobMemory({ ...req, recompute: 'always' });
  return always < auto ? { needed: always, recompute: 'always' } : { needed: auto, recompute: 'auto' };
}

/**
 * The memory plan of a network already built (the compute path has one).
 *
 * The layer cache (every convolution's output, kept from the first pass for the others: a pass then
 * costs its backward and its batch norms, and a recomputation no convolution) is used when the job
 * with every proxy of its task still fits the recomputation threshold with it. The decision depends
 * on the network, task and batch size only, never on which proxies are asked for, so a proxy's value
 * does not depend on the others requested (grasp's would, by float rounding).
 */
export function planMemory(
  net: NetworkDef,
  task: TaskSpec,
  batchSize: number,
  proxies: BuiltInProxyName[],
  policy: RecomputePolicy = 'auto',
  cache: LayerCachePolicy = 'auto',
  shards: ShardPolicy = { max: 1 },
): MemoryPlan {
  const trace = traceShapes(net, batchSize);
  const cacheBytes = 4 * trace.convOutputElements;
  const cacheLayers =
    cache === 'auto' &&
    passPlan(trace, task, batchSize, evaluatePassesNeeded(proxiesForTask(task.name)), policy, cacheBytes).peakBytes <= RECOMPUTE_ABOVE_BYTES;
  const needed = evaluatePassesNeeded(proxies);
  // Fewer kept activations before more heaps: a split that keeps everything may not fit the budget.
  const split = (count: number) =>
    [policy, ...(policy === 'auto' ? (['always'] as const) : [])]
      .map((p) => shardedPlan(net, trace, task, batchSize, needed, p, cache, count))
      .find((p): p is MemoryPlan => p !== null && p.peakBytes <= (shards.budgetBytes ?? Infinity));
  // A split needs two samples at least: a one-sample job runs whole.
  const exactly = Math.min(shards.exactly ?? 1, batchSize);
  if (exactly > 1) {
    const asked = split(exactly);
    if (asked) return asked;
  }
  const plan = passPlan(trace, task, batchSize, needed, policy, cacheLayers ? cacheBytes : 0);
  const most = Math.min(shards.max, batchSize);
  const least = Math.min(shards.min ?? 1, most);
  // More heaps for a layer cache only when a requested pass replays it (zen's forward does not).
  const replays = [...needed].some((p) => PASSES[p].shardable && PASSES[p].cached);
  if (least > 1) {
    const spread = fewestShards(split, least, most, replays);
    if (spread) return spread;
  }
  if (plan.peakBytes <= RECOMPUTE_ABOVE_BYTES) return { ...plan, cacheLayers, shards: 1 };
  const sharded = fewestShards(split, 2, most, replays);
  if (sharded) return sharded;
  return { ...plan, peakBytes: plan.peakBytes + HYBRID_STAGING_BYTES, cacheLayers, shards: 1 };
}

/**
 * The fewest heaps from `from` to `most` that fit, unless a few more (at most twice as many) let the
 * shards keep a layer cache: then no pass runs a convolution twice (measured on TNB-micro class_scene
 * (1, 2, 2, 0, 2, 3): 4 shards with the cache 56 s, 3 without 71 s, on 2 cores).
 */
function fewestShards(split: (count: number) => MemoryPlan | undefined, from: number, most: number, replays: boolean): MemoryPlan | undefined {
  for (let count = from; count <= most; count++) {
    const fewest = split(count);
    if (!fewest) continue;
    for (let more = count; replays && more <= Math.min(most, 2 * count); more++) {
      const cached = more === count ? fewest : split(more);
      if (cached?.cacheLayers) return cached;
    }
    return fewest;
  }
  return undefined;
}

/**
 * The plan with the shardable passes' minibatch split `shards` ways, or null when
 * a heap would still overflow: shard 0's heap also holds the whole minibatch and runs the other
 * passes on it. The peak is the sum over the heaps (wasm's never shrink).
 */
function shardedPlan(
  net: NetworkDef,
  trace: ShapeOps,
  task: TaskSpec,
  batchSize: number,
  needed: Set<PassName>,
  policy: RecomputePolicy,
  cache: LayerCachePolicy,
  shards: number,
): MemoryPlan | null {
  const shardable = (passes: Set<PassName>) => new Set([...passes].filter((p) => PASSES[p].shardable));
  const rest = new Set([...needed].filter((p) => !PASSES[p].shardable));
  const local = Math.ceil(batchSize / shards);
  const localTrace = traceShapes(net, local);
  // Shard 0's heap also holds the whole minibatch, for the passes that run unsplit on it.
  const wholeMinibatch = minibatchBytes(trace, task, batchSize, rest);
  // The shards' layer cache, decided as for an unsplit job: on every proxy of the task, not the ones asked for.
  const cacheBytes = 4 * localTrace.convOutputElements;
  const everyPass = shardable(evaluatePassesNeeded(proxiesForTask(task.name)));
  const cacheLayers = cache === 'auto' && passPlan(localTrace, task, local, everyPass, policy, cacheBytes).peakBytes + wholeMinibatch <= RECOMPUTE_ABOVE_BYTES;
  const shard = passPlan(localTrace, task, local, shardable(needed), policy, cacheLayers ? cacheBytes : 0);
  const main = passPlan(trace, task, batchSize, rest, policy, 0);
  const shard0 = shard.peakBytes + wholeMinibatch;
  if (Math.max(shard0, main.peakBytes) > RECOMPUTE_ABOVE_BYTES) return null;
  return {
    peakBytes: Math.max(shard0, main.peakBytes) + (shards - 1) * shard.peakBytes,
    recomputed: new Set([...shard.recomputed, ...main.recomputed]),
    cacheLayers,
    shards,
  };
}

/** The flipped copies of the large conv weights that input gradients keep for the job (kernels/filter-flips.ts). */
function keptFlipBytes(trace: ShapeOps): number {
  return 4 * trace.params.reduce((n, p) => (keepsFlipsOf(p.shape) ? n + numel(p.shape) : n), 0);
}

/** Bytes of the minibatches (inputs, kept as loaded and as tensors, and targets) the passes hold. */
function minibatchBytes(trace: ShapeOps, task: TaskSpec, batchSize: number, needed: Set<PassName>): number {
  const minibatches = 1 + Math.max(0, ...[...needed].map((p) => PASSES[p].memory.extraMinibatches ?? 0));
  const inputBytes = minibatches * batchSize * task.inputShape.reduce((a, b) => a * b, 1) * (task.tiles ?? 1) * 4 * 3;
  return inputBytes + minibatches * trace.outputElements * 4;
}

function passPlan(
  trace: ShapeOps,
  task: TaskSpec,
  batchSize: number,
  needed: Set<PassName>,
  policy: RecomputePolicy,
  cacheBytes: number,
): Omit<MemoryPlan, 'cacheLayers' | 'shards'> {
  // Weights, their gradients, H·g and the directions, zen's and synflow's copies, and what a pass adds.
  const extraParamCopies = [...needed].reduce((sum, p) => sum + (PASSES[p].memory.extraParamCopies ?? 0), 0);
  const paramBytes = trace.paramCount * 4 * (6 + extraParamCopies) + keptFlipBytes(trace);
  // The minibatches (zico's and swap's second one too) and their targets, as large as the output
  // (one-hot per pixel for segmentation).
  const lossBytes = (pass: PassName) => trace.outputElements * 4 * PASSES[pass].memory.loss;
  // The layer cache lives from the first pass that fills it to the end of the job.
  const usesCache = cacheBytes > 0 && [...needed].some((p) => PASSES[p].cached);
  const fixed = BASELINE_BYTES + paramBytes + minibatchBytes(trace, task, batchSize, needed) + (usesCache ? cacheBytes : 0);
  const hasSegments = trace.segments.size > 0;
  const plan = { peakBytes: fixed, recomputed: new Set<PassName>() };
  const segmented = (pass: PassName) => {
    const { boundary, segment, recomputingCache = 0 } = PASSES[pass].memory;
    const cache = usesCache ? recomputingCache * cacheBytes : 0;
    return fixed + 4 * (trace.boundaryElements * boundary + trace.segmentPeakElements * segment) + lossBytes(pass) + cache;
  };
  for (const pass of needed) {
    const { memory, forwardOnly, recomputable } = PASSES[pass];
    let bytes = fixed + trace.activationElements * 4 * memory.activation + lossBytes(pass);
    if (forwardOnly && hasSegments) bytes = Math.min(bytes, segmented(pass));
    if (recomputable && hasSegments && policy !== 'never' && (policy === 'always' || bytes > RECOMPUTE_ABOVE_BYTES)) {
      const recomputing = segmented(pass);
      if (policy === 'always' || recomputing < bytes) {
        bytes = recomputing;
        plan.recomputed.add(pass);
      }
    }
    plan.peakBytes = Math.max(plan.peakBytes, Math.ceil(bytes));
  }
  return plan;
}
