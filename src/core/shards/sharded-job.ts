import { extname, join } from 'path';
import { tf } from '../backend';
import { BlockingThread } from '../kernels/blocking-thread';
import { splitBatch } from '../kernels/conv-threads';
import type { TargetTensor } from '../loss';
import type { NetworkDef } from '../nn/ops';
import type { PassDefinition, Passes, PassSharding, ZenDraws } from '../passes';
import { abortShards, EXCHANGE_TIMEOUT_MS, ShardAbortedError, ShardGroup, shardMemory, type ShardMemory } from './shard-group';
import { batchRows, shardPasses, targetRows, type ShardNetwork, type ShardPlan } from './shard-passes';

/**
 * A job whose shardable passes (gradient, hessian, jacobian) run on its minibatch split between
 * wasm heaps: shard 0 on the calling thread, shards 1… on threads of their own (shard-thread.ts),
 * each with a copy of the weights and its samples. Batch norm, the loss and the results are summed
 * over the shards (nn/batch-shard.ts), so each pass returns what the whole batch gives, while every
 * kernel runs in wasm on every core and no heap holds more than its share of the activations.
 */

/** What a shard thread needs for a job (structured-cloned to it). */
export interface ShardSetup {
  memory: ShardMemory;
  index: number;
  batchSize: number;
  start: number;
  size: number;
  network: ShardNetwork;
  weights: { name: string; shape: number[]; values: Float32Array }[];
  x: { shape: number[]; values: Float32Array };
  target: { kind: TargetTensor['kind']; shape: number[]; values: Float32Array };
  recomputed: string[];
  cacheLayers: boolean;
}

/** A tensor as it travels to a shard thread. */
export interface TensorData {
  shape: number[];
  values: Float32Array;
}

/** zen's draws for one shard: every re-drawn weight, and its samples of the two inputs. */
export interface ZenShardDraws {
  weights: ({ name: string } & TensorData)[];
  input: TensorData;
  noise: TensorData;
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
    const split = inputs.x.shape[0] === batchSize;
    this.memory = shardMemory(parts.length, inputs.exchangeCapacity);
    this.helpers = shardThreads(parts.length - 1);
    const weights = [...inputs.weights].map(([name, t]) => ({ name, shape: t.shape, values: t.dataSync() as Float32Array }));
    const xValues = inputs.x.dataSync() as Float32Array;
    const targetValues = inputs.target.values.dataSync() as Float32Array;
    // A shard's rows of a batch-first tensor (all of a placeholder).
    const rowsOf = (t: tf.Tensor, values: Float32Array, start: number, size: number): TensorData => {
      if (!split) return { shape: t.shape, values };
      const row = t.size / batchSize;
      return { shape: [size, ...t.shape.slice(1)], values: values.slice(start * row, (start + size) * row) };
    };
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
        x: rowsOf(inputs.x, xValues, start, size),
        target: { kind: inputs.target.kind, ...rowsOf(inputs.target.values, targetValues, start, size) },
        recomputed: [...inputs.plan.recomputed],
        cacheLayers: inputs.plan.cacheLayers,
      };
      helper.post({ type: 'setup', setup } satisfies ShardMessage);
    });
    for (const helper of this.helpers) helper.wait('setup', SETUP_TIMEOUT_MS);
    const [, size0] = parts[0]!;
    const x0 = split ? batchRows(inputs.x, 0, size0) : tf.clone(inputs.x);
    const target0 = split ? targetRows(inputs.target, 0, size0) : { ...inputs.target, values: tf.clone(inputs.target.values) };
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

  /** What the helper of shard `index` needs to run `pass` besides its setup: zen's draws. */
  private extras(pass: PassDefinition, index: number): Pick<Extract<ShardMessage, { type: 'run' }>, 'zen'> {
    if (pass.name !== 'zen') return {};
    const draws = this.jobZenDraws();
    const [start, size] = this.parts[index]!;
    const rows = (t: tf.Tensor): TensorData => {
      const row = t.size / t.shape[0]!;
      return { shape: [size, ...t.shape.slice(1)], values: (t.dataSync() as Float32Array).slice(start * row, (start + size) * row) };
    };
    const weights = [...draws.weights].map(([name, t]) => ({ name, shape: t.shape, values: t.dataSync() as Float32Array }));
    return { zen: { weights, input: rows(draws.input), noise: rows(draws.noise) } };
  }

  /** Shards in this job (the calling thread's included). */
  get shards(): number {
    return this.helpers.length + 1;
  }

  run<R>(pass: PassDefinition<string, R>): R {
    this.helpers.forEach((helper, i) => helper.post({ type: 'run', pass: pass.name, ...this.extras(pass, i + 1) } satisfies ShardMessage));
    let result: R | undefined;
    let failure: unknown;
    try {
      result = this.local.get(pass);
    } catch (err) {
      failure = err;
      abortShards(this.memory);
    }
    // Every helper answers (done, or failed once the group is aborted); a helper's own error is the
    // cause when shard 0 only saw the abort.
    for (const helper of this.helpers) {
      try {
        helper.wait(pass.name, EXCHANGE_TIMEOUT_MS);
      } catch (err) {
        if (failure === undefined || failure instanceof ShardAbortedError) failure = err;
      }
    }
    if (failure !== undefined) throw failure;
    return result!;
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
