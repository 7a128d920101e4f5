import type { UsedFile } from './files';

/**
 * An opened labelled image training set (one file source). Samples are addressed by their
 * training-set index; only the drawn samples are read.
 */
export interface SampleSet {
  /** Number of training samples (before NASLib's 70 % cut). */
  count: number;
  /** Class of every sample, already validated against the task. Shared with a cache: read only. */
  labels: Int32Array;
  /** The files the set is made of, for the source digest. */
  files: UsedFile[];
  /**
   * Writes the samples `indices` into `out` as [B, H, W, C] in the task's geometry: uint8
   * pixels scaled to [0, 1], float data as stored (float32).
   */
  read(indices: readonly number[], out: Float32Array): Promise<void>;
  close(): Promise<void>;
}

/** One training set made of parts in order (CIFAR-10's data_batch_1..5, NinaPro's train then val). */
export function concatSampleSets(parts: SampleSet[], sampleSize: number): SampleSet {
  if (parts.length === 1) return parts[0]!;
  const starts: number[] = [];
  let count = 0;
  for (const p of parts) {
    starts.push(count);
    count += p.count;
  }
  const labels = new Int32Array(count);
  parts.forEach((p, k) => labels.set(p.labels, starts[k]));
  return {
    count,
    labels,
    files: parts.flatMap((p) => p.files),
    async read(indices, out) {
      const one = new Float32Array(sampleSize);
      for (let n = 0; n < indices.length; n++) {
        const i = indices[n]!;
        let k = parts.length - 1;
        while (starts[k]! > i) k--;
        await parts[k]!.read([i - starts[k]!], one);
        out.set(one, n * sampleSize);
      }
    },
    async close() {
      await Promise.all(parts.map((p) => p.close()));
    },
  };
}

/** Closes what was opened so far when opening a later part fails. */
export async function openAll(openers: Array<() => Promise<SampleSet>>): Promise<SampleSet[]> {
  const opened: SampleSet[] = [];
  try {
    for (const open of openers) opened.push(await open());
    return opened;
  } catch (err) {
    await Promise.allSettled(opened.map((s) => s.close()));
    throw err;
  }
}
