import { tf } from '../backend';

/**
 * One shard of a job's minibatch: a contiguous run of its samples on a thread with its own wasm
 * heap (src/core/shards). Batch norm's statistics, the loss's mean and the weight gradients are
 * batch-wide, so every such reduction is summed over the shards, the way data-parallel training
 * synchronises batch norm: each shard then computes exactly what the whole batch would, for its own
 * samples. Implementations sum in shard order, so every shard sees the same bits.
 */
export interface BatchShard {
  /** This shard's place among `count` shards, 0 first. */
  readonly index: number;
  readonly count: number;
  /** Samples of the whole minibatch, and this shard's first sample and sample count. */
  readonly batchSize: number;
  readonly start: number;
  readonly size: number;
  /** Σ over every shard of `values` (same length on all), in float64, identical on every shard. */
  sum(values: ArrayLike<number>): Float64Array;
  /** Every shard's `values`, in shard order (lengths may differ). */
  gather(values: Float64Array): Float64Array[];
}

/** Σ over the shards of a small tensor (per-channel sums, a scalar), as a new float32 tensor of its shape. */
export function shardSum(shard: BatchShard, t: tf.Tensor): tf.Tensor {
  return tf.tensor(Float32Array.from(shard.sum(t.dataSync())), t.shape, 'float32');
}

/** Σ over the shards of each tensor (a pass's weight gradients), in one exchange; the inputs are disposed. */
export function shardSumAll(shard: BatchShard, tensors: tf.Tensor[]): tf.Tensor[] {
  const local = new Float64Array(tensors.reduce((n, t) => n + t.size, 0));
  let at = 0;
  for (const t of tensors) {
    local.set(t.dataSync(), at);
    at += t.size;
    t.dispose();
  }
  const total = shard.sum(local);
  at = 0;
  return tensors.map((t) => {
    const out = tf.tensor(Float32Array.from(total.subarray(at, at + t.size)), t.shape, 'float32');
    at += t.size;
    return out;
  });
}

/** Every shard's `values` end to end, in shard order (the whole batch's rows of a per-sample result). */
export function shardConcat(shard: BatchShard, values: Float64Array): Float64Array {
  const parts = shard.gather(values);
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** The share of a batch-mean loss this shard's samples carry: its mean times this is its part of the sum. */
export function shardFraction(shard: BatchShard): number {
  return shard.size / shard.batchSize;
}

/** Elements per channel of the whole minibatch, from this shard's NHWC tensor `x` (N·H·W over every shard). */
export function channelCount(x: tf.Tensor, shard?: BatchShard): number {
  return (x.size / x.shape[x.rank - 1]!) * (shard ? shard.batchSize / shard.size : 1);
}
