import { evaluatePassesNeeded } from './evaluate';
import { proxiesForTask, type ProxyName, type SpaceName, type TaskName } from './names';
import { traceShapes, type ShapeOps } from './nn/shape';
import type { PassName } from './passes';
import { searchSpace } from './spaces';
import { taskSpec, type TaskSpec } from './tasks';
import type { NetworkDef } from './nn/ops';
import type { LayerCachePolicy, RecomputePolicy } from './types';

export interface MemoryEstimateRequest {
  space: SpaceName;
  task: TaskName;
  arch: string;
  batchSize: number;
  proxies: ProxyName[];
  recompute?: RecomputePolicy;
  layerCache?: LayerCachePolicy;
}

/**
 * Peak tensor bytes of each pass, in units of the traced forward activations (ShapeOps counts one
 * float per op output), everything kept. Measured as wasm heap growth (one job per fresh process;
 * NB201 b16, NB101 b4, NB301 b4, TNB-9x b4): gradient 4.0–4.6, jacobian 3.3–3.8, hessian 10.1–10.8;
 * rounded up. Forward-only passes free each segment when it ends.
 */
const ACTIVATION_COPIES: Record<PassName, number> = {
  build: 0,
  data: 0,
  forward: 2.2,
  zen: 2.2,
  jacobian: 4,
  gradient: 4.8,
  hessian: 11.5,
  synflow: 0,
};

/**
 * With segments: copies of the boundary activations (outside segments, and segment outputs) and of
 * the largest segment's activations, fitted as upper bounds to the same measurements with
 * recomputation on, plus TNB-macro class_scene and autoencoder at b2.
 */
const BOUNDARY_COPIES: Record<PassName, number> = { build: 0, data: 0, forward: 1, zen: 1.5, jacobian: 2.3, gradient: 2.3, hessian: 6, synflow: 0 };
const SEGMENT_COPIES: Record<PassName, number> = { build: 0, data: 0, forward: 2.2, zen: 2.2, jacobian: 4.2, gradient: 5, hessian: 15, synflow: 0 };

/**
 * Peak bytes of the loss and its derivatives, in units of the network's output: nothing for the
 * classifiers ([B, K]), but a Taskonomy decoder's output is [32, 256, 256, K] — 143 MB for
 * segmentsemantic's 17 classes, with the one-hot target as large. Measured (tfjs engine peak bytes)
 * for the pixel-wise cross-entropy at the output: gradient 12.8, H·v 34.3; L1 7 and 21 (the input
 * Jacobian's backward starts from one output-shaped seed). They add to
 * the network's: the loss's saved intermediates and its gradients live until the backward ends, also
 * when segments are recomputed (without this term, segmentsemantic's non-grasp jobs peaked 35 % above
 * their plan in smoke:tasks).
 */
const LOSS_COPIES: Record<PassName, number> = { build: 0, data: 0, forward: 0, zen: 0, jacobian: 1, gradient: 13, hessian: 35, synflow: 0 };

/** Passes that can recompute segments: the ones that run a backward over the network. */
const RECOMPUTABLE: ReadonlySet<PassName> = new Set(['gradient', 'jacobian', 'hessian']);
/** Passes that share the layer cache (same network, weights and minibatch). */
const CACHED: ReadonlySet<PassName> = new Set(['gradient', 'hessian', 'forward', 'jacobian']);
/** Passes that run no backward: their segments are always freed as they end. */
const FORWARD_ONLY: ReadonlySet<PassName> = new Set(['forward', 'zen']);

/**
 * A pass whose peak with every activation kept would exceed this recomputes its segments instead.
 * wasm's addressable memory (less headroom): the same rule on every backend, so a job's plan, its
 * memory estimate and its arithmetic do not depend on where it runs.
 */
export const RECOMPUTE_ABOVE_BYTES = 3.5 * 2 ** 30;

/** Runtime, backend and allocator overhead of a worker child, bytes. */
const BASELINE_BYTES = 256 * 2 ** 20;


export interface MemoryPlan {
  /** Estimated peak bytes of the job. */
  peakBytes: number;
  /** Passes that recompute segments. */
  recomputed: Set<PassName>;
  /** Whether the passes share convolution outputs (nn/replay.ts). */
  cacheLayers: boolean;
}

/**
 * Peak bytes a job needs, from the network's shapes (no tensor is allocated): parameters (weights,
 * gradients, Hg, zen's and synflow's copies), the minibatch, and float32 activations at the batch
 * size times the copies of the most demanding pass requested (fewer where a pass recomputes).
 */
export function estimateJobMemory(req: MemoryEstimateRequest): number {
  const space = searchSpace(req.space);
  const task = taskSpec(req.task);
  return planMemory(space.network(space.parse(req.arch), task), task, req.batchSize, req.proxies, req.recompute, req.layerCache).peakBytes;
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
  proxies: ProxyName[],
  policy: RecomputePolicy = 'auto',
  cache: LayerCachePolicy = 'auto',
): MemoryPlan {
  const trace = traceShapes(net, batchSize);
  const cacheBytes = 4 * trace.convOutputElements;
  const cacheLayers = cache === 'auto' && passPlan(trace, task, batchSize, proxiesForTask(task.name), policy, cacheBytes).peakBytes <= RECOMPUTE_ABOVE_BYTES;
  return { ...passPlan(trace, task, batchSize, proxies, policy, cacheLayers ? cacheBytes : 0), cacheLayers };
}

function passPlan(trace: ShapeOps, task: TaskSpec, batchSize: number, proxies: ProxyName[], policy: RecomputePolicy, cacheBytes: number): Omit<MemoryPlan, 'cacheLayers'> {
  // Weights, their gradients, H·g and the directions, zen's and synflow's copies.
  const paramBytes = trace.paramCount * 4 * 6;
  const inputBytes = batchSize * task.inputShape.reduce((a, b) => a * b, 1) * (task.tiles ?? 1) * 4 * 3;
  // The target, as large as the output (one-hot per pixel for segmentation).
  const targetBytes = trace.outputElements * 4;
  const lossBytes = (pass: PassName) => trace.outputElements * 4 * LOSS_COPIES[pass];
  const needed = evaluatePassesNeeded(proxies);
  // The layer cache lives from the first pass that fills it to the end of the job.
  const usesCache = cacheBytes > 0 && [...needed].some((p) => CACHED.has(p));
  const fixed = BASELINE_BYTES + paramBytes + inputBytes + targetBytes + (usesCache ? cacheBytes : 0);
  const hasSegments = trace.segments.size > 0;
  const plan = { peakBytes: fixed, recomputed: new Set<PassName>() };
  const segmented = (pass: PassName) =>
    fixed +
    4 * (trace.boundaryElements * BOUNDARY_COPIES[pass] + trace.segmentPeakElements * SEGMENT_COPIES[pass]) +
    lossBytes(pass) +
    // A recomputing hessian pass keeps its tangent convolutions too.
    (pass === 'hessian' && usesCache ? cacheBytes : 0);
  for (const pass of needed) {
    let bytes = fixed + trace.activationElements * 4 * ACTIVATION_COPIES[pass] + lossBytes(pass);
    if (FORWARD_ONLY.has(pass) && hasSegments) bytes = Math.min(bytes, segmented(pass));
    if (RECOMPUTABLE.has(pass) && hasSegments && policy !== 'never' && (policy === 'always' || bytes > RECOMPUTE_ABOVE_BYTES)) {
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
