import { extname, join } from 'path';
import { tf } from '../backend';
import { BlockingThread } from '../kernels/blocking-thread';
import { splitBatch } from '../kernels/conv-threads';
import type { TargetTensor } from '../loss';
import type { NetworkDef } from '../nn/ops';
import type { PassDefinition, Passes, PassSharding, ZenDraws } from '../passes';
import { abortShards, EXCHANGE_TIMEOUT_MS, firstAborted, ShardAbortedError, ShardGroup, shardMemory, type ShardMemory } from './shard-group';
import { batchRows, shardPasses, targetRows, type ShardNetwork, type ShardPlan } from './shard-passes';

/**
 * A job whose shardable passes (gradient, hessian, jacobian, forward, zen) run on its minibatch split between
 * wasm heaps: shard 0 on the calling thread, shards 1… on threads of their own (shard-thread.ts),
 * each with a copy of the weights and its samples. Batch norm, the loss and the results are summed
 * over the shards (nn/batch-shard.ts), so each pass returns what the whole batch gives, while every
 * kernel runs in wasm on every core and no heap holds more than its share of the activations.
 */

/** A tensor as it travels to a shard thread. */
export interface TensorData {
  shape: number[];
  values: Float32Array;
}

type NamedTensorData = { name: string } & TensorData;

/** What a shard thread needs for a job (structured-cloned to it). */
export interface ShardSetup {
  memory: ShardMemory;
  index: number;
  batchSize: number;
  start: number;
  size: number;
  network: ShardNetwork;
  weights: NamedTensorData[];
  x: TensorData;
  target: { kind: TargetTensor['kind'] } & TensorData;
  recomputed: string[];
  cacheLayers: boolean;
}

/** zen's draws for one shard: every re-drawn weight, and its samples of the two inputs. */
export interface ZenShardDraws {
  weights: NamedTensorData[];
  input: TensorData;
  noise: TensorData;
}

/** Each tensor of `tensors` by name, as it travels (a copy of its values). */
function namedData(tensors: Map<string, tf.Tensor>): NamedTensorData[] {
  return [...tensors].map(([name, t]) => ({ name, shape: t.shape, values: t.dataSync() as Float32Array }));
}

/** A tensor's values, read once, whose rows the shards take. */
interface BatchData {
  shape: number[];
  values: Float32Array;
  /** Whether its first axis is the job's samples (a one-sample placeholder is sent whole). */
  batched: boolean;
}

function batchData(t: tf.Tensor, batchSize: number): BatchData {
  return { shape: t.shape, values: t.dataSync() as Float32Array, batched: t.shape[0] === batchSize };
}

/** Rows [start, start + size) of `data` (all of a placeholder). */
function rowsOf(data: BatchData, start: number, size: number): TensorData {
  if (!data.batched) return { shape: data.shape, values: data.values };
  const row = data.values.length / data.shape[0]!;
  return { shape: [size, ...data.shape.slice(1)], values: data.values.slice(start * row, (start + size) * row) };
}

export type ShardMessage = { type: 'setup'; setup: ShardSetup } | { type: 'run'; pass: string; zen?: ZenShardDraws } | { type: 'end' };

/** Setting a job up copies its weights and samples into the thread: seconds at most. */
const SETUP_TIMEOUT_MS = 120_000;

const threads: BlockingThread[] = [];

/** `count` shard threads (started on first use, kept for the process: each keeps its wasm heap). */
function shardThreads(count: number): BlockingThread[] {
  for (let i = threads.length - 1; i >= 0; i--) if (threads[i]!.stopped) threads.splice(i, 1);
  while (threads.length < count) threads.push(new BlockingThread(join(__dirname, `shard-thread${extname(__filename)}`), 'batch shard'));
  return threads.slice(0, count);
}

/** Stop every shard thread (tests; a process's threads otherwise end with it). */
export async function stopShardThreads(): Promise<void> {
  await Promise.all(threads.splice(0).map((t) => t.terminate()));
}

export interface ShardedJobInputs {
  network: ShardNetwork;
  net: NetworkDef;
  weights: Map<string, tf.Tensor>;
  /** Samples of the job's minibatch (zen's and az_nas's draws have as many). */
  batchSize: number;
  /** The minibatch, or a placeholder of one sample when no requested proxy reads data (it is not split). */
  x: tf.Tensor;
  target: TargetTensor;
  /** Passes that recompute segments and whether the shards keep a layer cache (memory.ts). */
  plan: ShardPlan;
  shards: number;
  /** Float64 per shard and exchange chunk (tests make it tiny to exercise chunking). */
  exchangeCapacity?: number;
  /** The job's zen draws (drawn once, owned by the caller), read when zen runs. */
  zenDraws?: () => ZenDraws;
}

/**
 * The error a failed pass reports: the first shard to abort the group, unless that is shard 0 only
 * giving up on the others (its own ShardAbortedError: a timeout), then a helper's own error.
 */
function causeOf(failures: Map<number, unknown>, first: number | undefined): unknown {
  const firstError = first === undefined ? undefined : failures.get(first);
  if (firstError !== undefined && !(firstError instanceof ShardAbortedError)) return firstError;
  const helperError = [...failures].find(([index]) => index > 0)?.[1];
  return helperError ?? firstError ?? failures.values().next().value;
}

export class ShardedJob implements PassSharding {
  private readonly memory: ShardMemory;
  private readonly helpers: BlockingThread[];
  private readonly local: Passes;
  private readonly owned: tf.Tensor[];
  private readonly parts: [number, number][];
  private localZen: ZenDraws | null = null;

  constructor(private readonly inputs: ShardedJobInputs) {
    const { batchSize } = inputs;
    const parts = (this.parts = splitBatch(batchSize, inputs.shards));
    this.memory = shardMemory(parts.length, inputs.exchangeCapacity);
    this.helpers = shardThreads(parts.length - 1);
    const weights = namedData(inputs.weights);
    const x = batchData(inputs.x, batchSize);
    const target = batchData(inputs.target.values, batchSize);
    this.helpers.forEach((helper, i) => {
      const [start, size] = parts[i + 1]!;
      const setup: ShardSetup = {
        memory: this.memory,
        index: i + 1,
        batchSize,
        start,
        size,
        network: inputs.network,
        weights,
        x: rowsOf(x, start, size),
        target: { kind: inputs.target.kind, ...rowsOf(target, start, size) },
        recomputed: [...inputs.plan.recomputed],
        cacheLayers: inputs.plan.cacheLayers,
      };
      helper.post({ type: 'setup', setup } satisfies ShardMessage);
    });
    for (const helper of this.helpers) helper.wait('setup', SETUP_TIMEOUT_MS);
    const [, size0] = parts[0]!;
    const x0 = x.batched ? batchRows(inputs.x, 0, size0) : tf.clone(inputs.x);
    const target0 = target.batched ? targetRows(inputs.target, 0, size0) : { ...inputs.target, values: tf.clone(inputs.target.values) };
    this.owned = [x0, target0.values];
    const group = new ShardGroup(this.memory, 0, batchSize, 0, size0);
    this.local = shardPasses(inputs.net, inputs.network, inputs.weights, x0, target0, inputs.plan, group, () => this.zenDrawsOfShard0());
  }

  /** Shard 0's samples of zen's inputs (the weights are the job's). */
  private zenDrawsOfShard0(): ZenDraws {
    if (!this.localZen) {
      const draws = this.jobZenDraws();
      const [, size] = this.parts[0]!;
      this.localZen = { weights: draws.weights, input: batchRows(draws.input, 0, size), noise: batchRows(draws.noise, 0, size) };
      this.owned.push(this.localZen.input, this.localZen.noise);
    }
    return this.localZen;
  }

  private jobZenDraws(): ZenDraws {
    if (!this.inputs.zenDraws) throw new Error('zen ran on a sharded job given no zen draws');
    return this.inputs.zenDraws();
  }

  /** What each helper (shard 1, 2, …) needs to run `pass` besides its setup: zen's draws, read once. */
  private extras(pass: PassDefinition): Pick<Extract<ShardMessage, { type: 'run' }>, 'zen'>[] {
    if (pass.name !== 'zen') return this.helpers.map(() => ({}));
    const draws = this.jobZenDraws();
    const weights = namedData(draws.weights);
    const [input, noise] = [draws.input, draws.noise].map((t) => batchData(t, this.inputs.batchSize));
    return this.parts.slice(1).map(([start, size]) => ({ zen: { weights, input: rowsOf(input!, start, size), noise: rowsOf(noise!, start, size) } }));
  }

  /** Shards in this job (the calling thread's included). */
  get shards(): number {
    return this.helpers.length + 1;
  }

  run<R>(pass: PassDefinition<string, R>): R {
    const extras = this.extras(pass);
    this.helpers.forEach((helper, i) => helper.post({ type: 'run', pass: pass.name, ...extras[i] } satisfies ShardMessage));
    let result: R | undefined;
    // Each shard's error, by index: the cause is the shard that aborted the group first.
    const failures = new Map<number, unknown>();
    try {
      result = this.local.get(pass);
    } catch (err) {
      failures.set(0, err);
      abortShards(this.memory, 0);
    }
    // Every helper answers (done, or failed once the group is aborted).
    this.helpers.forEach((helper, i) => {
      try {
        helper.wait(pass.name, EXCHANGE_TIMEOUT_MS);
      } catch (err) {
        failures.set(i + 1, err);
      }
    });
    if (failures.size === 0) return result!;
    throw causeOf(failures, firstAborted(this.memory));
  }

  dispose(): void {
    this.local.dispose();
    for (const t of this.owned) t.dispose();
    for (const helper of this.helpers) {
      if (helper.stopped) continue;
      helper.post({ type: 'end' } satisfies ShardMessage);
      helper.wait('end', SETUP_TIMEOUT_MS);
    }
  }
}
