import { tf } from '../backend';
import { shardConcat, type BatchShard } from '../nn/batch-shard';
import { TensorOps } from '../nn/tensor';
import { build } from './build';
import { data } from './data';
import { definePass } from './pass';
import type { Passes } from './passes';

/** nwot's K: entry (i, j) counts the ReLU units on which samples i and j agree, over every ReLU call. */
export const forward = definePass({
  name: 'forward',
  dependencies: [build, data],
  memory: { activation: 2.2, boundary: 1, segment: 2.2, loss: 0 },
  recomputable: false,
  cached: true,
  forwardOnly: true,
  shardable: true,
  run: reluAgreement,
});

function reluAgreement(passes: Passes): Float64Array {
  const { shard } = passes.inputs;
  const b = shard ? shard.batchSize : passes.batchSize;
  const k = new Float64Array(b * b);
  const countsByInput = new Map<number, Float64Array>();
  tf.tidy(() => {
    const onReluInput = (_name: string, input: tf.Tensor) => {
      // ReLU modules fed by the same tensor (NB201's edges leaving one node) add the same
      // agreement counts: compute them once per input, add them once per module call.
      let counts = countsByInput.get(input.id);
      if (!counts) {
        counts = agreementCounts(input.dataSync() as Float32Array, passes.batchSize, shard);
        countsByInput.set(input.id, counts);
      }
      for (let i = 0; i < counts.length; i++) k[i]! += counts[i]!;
    };
    const ops = new TensorOps(passes.lookup, { onReluInput }, undefined, { cache: passes.layers, shard });
    passes.inputs.net.forward(ops, passes.inputs.x);
  });
  // A shard counted the rows of its own samples: the shards' rows together are K.
  return shard ? shard.sum(k) : k;
}

/**
 * nwot's counts for one ReLU input of b samples: entry (i, j) is the number of units where samples
 * i and j are both active or both inactive, c cᵀ + (1 − c)(1 − c)ᵀ with c = [x > 0]: the units minus
 * the Hamming distance of the samples' sign bits, 32 units to a word (exact integers, and ~5× faster
 * than the float matrix product on wasm).
 */
function agreementCounts(x: ArrayLike<number>, b: number, shard?: BatchShard): Float64Array {
  const units = x.length / b;
  const words = Math.ceil(units / 32);
  const local = signBits(x, b, units, words);
  if (!shard) return agreementRows(local, b, 0, b, units, words, true);
  // Every shard's sign bits (exact integers as float64), then the rows of this shard's samples.
  const all = Int32Array.from(shardConcat(shard, Float64Array.from(local)));
  return agreementRows(all, shard.batchSize, shard.start, shard.size, units, words, false);
}

/** [x > 0] of b samples of `units` each, 32 units to a word. */
function signBits(x: ArrayLike<number>, b: number, units: number, words: number): Int32Array {
  const bits = new Int32Array(b * words);
  for (let i = 0; i < b; i++) {
    const row = i * units;
    const out = i * words;
    for (let u = 0; u < units; u++) if (x[row + u]! > 0) bits[out + (u >>> 5)]! |= 1 << (u & 31);
  }
  return bits;
}

/**
 * Rows [from, from + count) of the b × b agreement counts of `bits` (b samples); `symmetric`: all
 * b rows at once, each pair counted once (from = 0, count = b).
 */
function agreementRows(bits: Int32Array, b: number, from: number, count: number, units: number, words: number, symmetric: boolean): Float64Array {
  const counts = new Float64Array(b * b);
  for (let i = from; i < from + count; i++) {
    counts[i * b + i] = units;
    for (let j = symmetric ? i + 1 : 0; j < b; j++) {
      if (j === i) continue;
      let differ = 0;
      for (let w = 0, p = i * words, q = j * words; w < words; w++) differ += popcount(bits[p + w]! ^ bits[q + w]!);
      counts[i * b + j] = units - differ;
      if (symmetric) counts[j * b + i] = units - differ;
    }
  }
  return counts;
}

function popcount(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
