import type { BatchShard } from '../nn/batch-shard';

/**
 * The collectives of a sharded job (nn/batch-shard.ts): shards on different threads exchange
 * float64 vectors through shared memory and meet at a barrier (Atomics), so a shard blocked in a
 * synchronous tfjs kernel sequence can wait for the others without an event loop.
 *
 * Layout: `control` holds the barrier (arrivals, generation), the abort flag and each shard's
 * gather length per slot set; `data` holds two slot sets of `capacity` float64 per shard. An
 * exchange writes this shard's slot, meets the others, then reads every slot; exchanges alternate
 * slot sets, so one barrier per exchange suffices (nobody writes a set again before everyone has
 * passed the next barrier, which needs everyone to have finished reading it).
 */
export interface ShardMemory {
  count: number;
  capacity: number;
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;
const LENGTHS = 3;

/** Float64 per shard and slot set: 2 MiB, far more than any batch norm's channels. */
export const DEFAULT_CAPACITY = 2 ** 18;

/** A shard waits this long at most for the others (a step between two exchanges is seconds of work). */
export const EXCHANGE_TIMEOUT_MS = 600_000;

export function shardMemory(count: number, capacity = DEFAULT_CAPACITY): ShardMemory {
  return {
    count,
    capacity,
    control: new SharedArrayBuffer(4 * (LENGTHS + 2 * count)),
    data: new SharedArrayBuffer(8 * 2 * count * capacity),
  };
}

/** The shard that aborted the group first, or undefined while none has. */
export function firstAborted(memory: ShardMemory): number | undefined {
  const value = Atomics.load(new Int32Array(memory.control), ABORTED);
  return value === 0 ? undefined : value - 1;
}

/** A shard gave up (its own failure, another's, or a timeout): every shard's next exchange throws this. */
export class ShardAbortedError extends Error {}

/**
 * Mark the group aborted by shard `index` and wake every waiting shard (they throw
 * ShardAbortedError). The first shard to abort is kept: its failure is the cause.
 */
export function abortShards(memory: ShardMemory, index: number): void {
  const control = new Int32Array(memory.control);
  Atomics.compareExchange(control, ABORTED, 0, index + 1);
  Atomics.add(control, GENERATION, 1);
  Atomics.notify(control, GENERATION);
}

export class ShardGroup implements BatchShard {
  readonly count: number;
  private readonly control: Int32Array;
  private readonly data: Float64Array;
  private readonly capacity: number;
  private exchanges = 0;

  constructor(
    private readonly memory: ShardMemory,
    readonly index: number,
    readonly batchSize: number,
    readonly start: number,
    readonly size: number,
    private readonly timeoutMs = EXCHANGE_TIMEOUT_MS,
  ) {
    this.count = memory.count;
    this.capacity = memory.capacity;
    this.control = new Int32Array(memory.control);
    this.data = new Float64Array(memory.data);
  }

  sum(values: ArrayLike<number>): Float64Array {
    const out = new Float64Array(values.length);
    // Every shard takes part in every chunk (an empty vector still meets the others once).
    const chunks = Math.max(1, Math.ceil(values.length / this.capacity));
    for (let c = 0; c < chunks; c++) {
      const at = c * this.capacity;
      const n = Math.min(this.capacity, values.length - at);
      const set = this.write(values, at, n);
      for (let s = 0; s < this.count; s++) {
        const slot = this.slot(set, s);
        for (let i = 0; i < n; i++) out[at + i]! += this.data[slot + i]!;
      }
    }
    return out;
  }

  gather(values: Float64Array): Float64Array[] {
    // First every shard's length, then the values, a chunk of the longest at a time.
    const lengths = this.exchangeLength(values.length);
    const parts = lengths.map((n) => new Float64Array(n));
    const longest = Math.max(...lengths);
    for (let at = 0; at < longest; at += this.capacity) {
      const set = this.write(values, at, Math.max(0, Math.min(this.capacity, values.length - at)));
      lengths.forEach((length, s) => {
        const n = Math.min(this.capacity, length - at);
        if (n > 0) parts[s]!.set(this.data.subarray(this.slot(set, s), this.slot(set, s) + n), at);
      });
    }
    return parts;
  }

  /** Give up: the others' exchanges throw instead of waiting for this shard. */
  abort(): void {
    abortShards(this.memory, this.index);
  }

  private slot(set: number, shard: number): number {
    return (set * this.count + shard) * this.capacity;
  }

  /** Write values[at, at + n) into this shard's slot of the next set, then meet the others; returns the set. */
  private write(values: ArrayLike<number>, at: number, n: number): number {
    const set = this.exchanges++ % 2;
    const slot = this.slot(set, this.index);
    for (let i = 0; i < n; i++) this.data[slot + i] = values[at + i]!;
    this.barrier();
    return set;
  }

  private exchangeLength(length: number): number[] {
    const set = this.exchanges++ % 2;
    Atomics.store(this.control, LENGTHS + set * this.count + this.index, length);
    this.barrier();
    return Array.from({ length: this.count }, (_, s) => Atomics.load(this.control, LENGTHS + set * this.count + s));
  }

  private barrier(): void {
    const c = this.control;
    this.throwIfAborted();
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.add(c, ARRIVED, 1) === this.count - 1) {
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    const deadline = Date.now() + this.timeoutMs;
    while (Atomics.load(c, GENERATION) === generation) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(c, GENERATION, generation, left) === 'timed-out') {
        this.abort();
        throw new ShardAbortedError(`shard ${this.index}: the other shards did not reach the exchange within ${this.timeoutMs / 1000} s`);
      }
    }
    this.throwIfAborted();
  }

  private throwIfAborted(): void {
    const first = firstAborted(this.memory);
    if (first !== undefined) throw new ShardAbortedError(`shard ${this.index}: another shard failed (shard ${first} first)`);
  }
}
