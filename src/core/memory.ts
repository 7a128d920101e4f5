import { evaluatePassesNeeded } from './evaluate';
import type { ProxyName, SpaceName, TaskName } from './names';
import { traceShapes } from './nn/shape';
import type { PassName } from './passes';
import { searchSpace } from './spaces';
import { taskSpec, type TaskSpec } from './tasks';
import type { NetworkDef } from './nn/ops';

export interface MemoryEstimateRequest {
  space: SpaceName;
  task: TaskName;
  arch: string;
  batchSize: number;
  proxies: ProxyName[];
}

/**
 * Peak tensor bytes of each pass, in units of the traced forward activations (ShapeOps counts one
 * float per op output). Measured with tf.profile on NB201 (wasm, batch 8–16): forward 2.0,
 * jacobian 4.5, gradient 5.0, hessian 12.3 (it holds the gradient pass's g and a dual forward);
 * rounded up for headroom.
 */
const ACTIVATION_COPIES: Record<PassName, number> = {
  build: 0,
  data: 0,
  forward: 2.2,
  zen: 2.2,
  jacobian: 5,
  gradient: 5.5,
  hessian: 13.5,
  synflow: 0,
};

/** Runtime, backend and allocator overhead of a worker child, bytes. */
const BASELINE_BYTES = 256 * 2 ** 20;

/**
 * Peak bytes a job needs, from the network's shapes (no tensor is allocated): parameters (weights,
 * gradients, Hg, zen's and synflow's copies) plus float32 activations at the batch size times the
 * copies of the most demanding pass requested, plus the minibatch.
 */
export function estimateJobMemory(req: MemoryEstimateRequest): number {
  const space = searchSpace(req.space);
  const task = taskSpec(req.task);
  return networkPeakBytes(space.network(space.parse(req.arch), task), task, req.batchSize, req.proxies);
}

/** estimateJobMemory for a network already built (the compute path has one). */
export function networkPeakBytes(net: NetworkDef, task: TaskSpec, batchSize: number, proxies: ProxyName[]): number {
  const trace = traceShapes(net, batchSize);
  let copies = 0;
  for (const p of evaluatePassesNeeded(proxies)) copies = Math.max(copies, ACTIVATION_COPIES[p]);
  const paramBytes = trace.paramCount * 4 * 5;
  const activationBytes = trace.activationElements * 4 * copies;
  const inputBytes = batchSize * task.inputShape.reduce((a, b) => a * b, 1) * (task.tiles ?? 1) * 4 * 3;
  return Math.ceil(BASELINE_BYTES + paramBytes + activationBytes + inputBytes);
}
