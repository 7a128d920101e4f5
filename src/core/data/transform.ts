import type { Rng } from '../rng';
import type { TaskSpec } from '../tasks';

/** NASLib's train_portion: the ZC batch is drawn from the first 70 % of the training indices. */
export const TRAIN_PORTION = 0.7;

/** How many leading training samples the ZC batch may come from (NASLib: int(np.floor(0.7 * n))). */
export function trainSplit(count: number): number {
  return Math.floor(TRAIN_PORTION * count);
}

/** One sample's random crop (offsets into the zero-padded image, 0..2·pad) and horizontal flip. */
export interface AugmentDraw {
  top: number;
  left: number;
  flip: boolean;
}

export interface MinibatchPlan {
  /** Training-set indices of the batch's samples, in batch order. */
  indices: number[];
  /** Per sample, when the task augments; null otherwise. */
  augment: AugmentDraw[] | null;
}

/**
 * Everything random about a file-source minibatch, drawn from the caller's data stream: the
 * samples (stream 'sample': a permutation of the first 70 % of the indices, as NASLib's
 * SubsetRandomSampler, whose first batch is the permutation's head) and the augmentation
 * (stream 'augment'). Separate streams, so a change in one never shifts the other.
 */
export function planMinibatch(spec: TaskSpec, count: number, batchSize: number, rng: Rng): MinibatchPlan {
  const split = trainSplit(count);
  const order = Array.from({ length: split }, (_, i) => i);
  const indices = rng.fork('sample').shuffle(order).slice(0, batchSize);
  const augment = spec.augment ? drawAugmentations(rng.fork('augment'), indices.length, spec.augment.pad, spec.augment.flip) : null;
  return { indices, augment };
}

/** torchvision's RandomCrop(size, padding=pad) then RandomHorizontalFlip(p=0.5), per sample in batch order. */
export function drawAugmentations(rng: Rng, batchSize: number, pad: number, flip: boolean): AugmentDraw[] {
  const draws: AugmentDraw[] = [];
  for (let n = 0; n < batchSize; n++) {
    const top = rng.int(2 * pad + 1);
    const left = rng.int(2 * pad + 1);
    draws.push({ top, left, flip: flip && rng.float() < 0.5 });
  }
  return draws;
}

/**
 * The task's training transform on a batch of images already scaled to [0, 1] (NHWC):
 * zero-pad, crop, flip (when `draws` is given), then per-channel normalisation. Arithmetic is
 * float32 step by step, as torch does it (x/255, then (x − mean) / std), so values match
 * NASLib's bit for bit for the same pixels and draws.
 */
export function applyTrainingTransform(
  raw: Float32Array,
  shape: readonly [number, number, number, number],
  spec: TaskSpec,
  draws: readonly AugmentDraw[] | null,
): Float32Array {
  const [B, H, W, C] = shape;
  const pad = spec.augment?.pad ?? 0;
  const mean = spec.normalize?.mean.map(Math.fround);
  const std = spec.normalize?.std.map(Math.fround);
  const out = new Float32Array(B * H * W * C);
  for (let n = 0; n < B; n++) {
    const d = draws?.[n];
    const base = n * H * W * C;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        // Output (y, x) of crop-then-flip reads padded pixel (y + top, x' + left), x' = flipped column.
        let sy = y;
        let sx = x;
        if (d) {
          sy = y + d.top - pad;
          sx = (d.flip ? W - 1 - x : x) + d.left - pad;
        }
        const inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
        const src = base + (sy * W + sx) * C;
        const dst = base + (y * W + x) * C;
        for (let c = 0; c < C; c++) {
          const v = inside ? raw[src + c]! : 0;
          out[dst + c] = mean && std ? Math.fround(Math.fround(v - mean[c]!) / std[c]!) : v;
        }
      }
    }
  }
  return out;
}

/** uint8 → [0, 1] as torchvision's ToTensor does it (float32 division by 255). */
export function scaleByte(b: number): number {
  return Math.fround(b / 255);
}

/** scaleByte for every byte value, for the per-pixel loops. */
export const BYTE_TO_UNIT: Float32Array = Float32Array.from({ length: 256 }, (_, b) => scaleByte(b));
