import { tf } from '../backend';
import type { TargetTensor } from '../loss';
import type { BatchShard } from '../nn/batch-shard';
import type { NetworkDef } from '../nn/ops';
import { traceShapes } from '../nn/shape';
import { Passes, type ZenDraws } from '../passes';
import { searchSpace } from '../spaces';
import { taskSpec } from '../tasks';
import type { SpaceName, TaskName } from '../names';

/** A job's network as every shard rebuilds it: the same (space, task, arch) gives the same definition. */
export interface ShardNetwork {
  space: SpaceName;
  task: TaskName;
  /** Canonical key. */
  arch: string;
}

/** memory.ts's plan for the shards' passes. */
export interface ShardPlan {
  recomputed: ReadonlySet<string>;
  cacheLayers: boolean;
}

export function shardNetwork(job: ShardNetwork): NetworkDef {
  const space = searchSpace(job.space);
  return space.network(space.parse(job.arch), taskSpec(job.task));
}

/**
 * The passes of one shard: its samples of the minibatch, the job's weights (not owned), the job's
 * segment and layer-cache plan, and its samples of zen's draws (asked for only when zen runs).
 */
export function shardPasses(
  net: NetworkDef,
  job: ShardNetwork,
  weights: Map<string, tf.Tensor>,
  x: tf.Tensor,
  target: TargetTensor,
  plan: ShardPlan,
  shard: BatchShard,
  zenDraws: () => ZenDraws,
): Passes {
  const trace = traceShapes(net, 1);
  return new Passes({
    net,
    loss: taskSpec(job.task).loss,
    weights,
    params: trace.params,
    unusedParams: net.unusedParams,
    batchNorms: trace.batchNorms,
    x,
    target,
    zenDraws,
    recomputed: plan.recomputed,
    cacheLayers: plan.cacheLayers,
    shard,
  });
}

/** Rows [start, start + size) of a batch-first tensor. */
export function batchRows(t: tf.Tensor, start: number, size: number): tf.Tensor {
  return tf.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1).map(() => -1)]);
}

/** A target's rows [start, start + size). */
export function targetRows(target: TargetTensor, start: number, size: number): TargetTensor {
  return {
    kind: target.kind,
    values: batchRows(target.values, start, size),
    ...(target.classes ? { classes: target.classes.slice(start, start + size) } : {}),
  };
}
