import { tf } from '../backend';
import { symmetricEigenvalues } from '../linalg';
import { grad } from '../nn/backprop';
import type { Ops } from '../nn/ops';
import { TensorOps } from '../nn/tensor';
import { reinitialisedConstant } from '../proxies/zen';
import { build } from './build';
import { definePass } from './pass';
import type { Passes } from './passes';

export interface AzNasParts {
  expressivity: number;
  progressivity: number;
  trainability: number;
}

/**
 * AZ-NAS's three network parts (cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_az_nas_score.py:
 * 109–197) on its own kaiming-normal weights and Gaussian input: features F_0 = the first segment's
 * input (NB201: the stem's output), F_i = segment i's output (custom/tss_model.py:54–68).
 */
export const azNasPass = definePass({
  name: 'az_nas',
  dependencies: [build],
  // Every feature kept, one block's backward at a time.
  memory: { activation: 2.2, boundary: 1.5, segment: 3, loss: 0, extraParamCopies: 1 },
  recomputable: false,
  cached: false,
  forwardOnly: false,
  run: azNasParts,
});

interface Block {
  inputs: tf.Tensor[];
  output: tf.Tensor;
  fn: (ops: Ops<tf.Tensor>, inputs: tf.Tensor[]) => tf.Tensor;
}

function azNasParts(passes: Passes): AzNasParts {
  const draws = passes.inputs.azNasDraws?.();
  if (!draws) throw new Error('az_nas needs its draws (the caller provides azNasDraws)');
  const constants = new Map<string, tf.Tensor>();
  const params = (name: string): tf.Tensor => draws.weights.get(name) ?? reinitialisedConstant(passes, constants, name);
  const blocks: Block[] = [];
  let parts: AzNasParts | null = null;
  try {
    tf.tidy(() => {
      const onSegment = (_name: string, inputs: tf.Tensor[], output: tf.Tensor, fn: Block['fn']) => {
        blocks.push({ inputs: inputs.map((t) => tf.keep(t)), output: tf.keep(output), fn });
      };
      passes.inputs.net.forward(new TensorOps(params, { onSegment }), draws.input);
      if (blocks.length === 0) throw new Error('az_nas needs a network with segments (its blocks)');
      const features = [blocks[0]!.inputs[blocks[0]!.inputs.length - 1]!, ...blocks.map((b) => b.output)];
      const entropies = features.map(spectralEntropy);
      let progressivity = Infinity;
      for (let i = 0; i + 1 < entropies.length; i++) progressivity = Math.min(progressivity, entropies[i + 1]! - entropies[i]!);
      let terms = 0;
      // Draw order: the last block first (line 152).
      for (let i = blocks.length; i >= 1; i--)
        terms += trainabilityTerm(blocks[i - 1]!, features[i - 1]!, i, params, (block, shape) => draws.signs(block, shape));
      parts = {
        expressivity: nanToMinusInfinity(entropies.reduce((a, b) => a + b, 0)),
        progressivity: nanToMinusInfinity(progressivity),
        trainability: nanToMinusInfinity(terms / blocks.length),
      };
    });
  } finally {
    for (const b of blocks) tf.dispose([...b.inputs, b.output]);
    for (const t of constants.values()) t.dispose();
  }
  return parts!;
}

/** NaN → −∞ for each part (lines 193–195). */
function nanToMinusInfinity(v: number): number {
  return Number.isNaN(v) ? -Infinity : v;
}

/** Σ_c −p_c ln(p_c + 1e-8), p the normalised eigenvalues of the channel covariance over B·H·W (134–149). */
function spectralEntropy(feature: tf.Tensor): number {
  const { rows, cols } = matrixOf(feature);
  const centred = centreColumns(feature.dataSync(), rows, cols);
  const covariance = gram(centred, centred, rows, cols, cols);
  for (let k = 0; k < covariance.length; k++) covariance[k]! /= rows;
  const eig = symmetricEigenvalues(covariance, cols);
  let total = 0;
  for (const v of eig) total += v;
  let entropy = 0;
  for (const v of eig) {
    const p = v / total;
    entropy += -p * Math.log(p + 1e-8);
  }
  return entropy;
}

/**
 * Block i's term (152–190): g_in = ∂⟨F_i, g_out⟩/∂F_{i−1} through the block alone, pixel-unshuffled
 * when the block halves the map; σ = the largest singular value of G_inᵀ G_out / (B·H·W); the term is
 * −σ − 1/(σ + 1e-6) + 2, or −∞ for an identity block (g_in = g_out).
 */
function trainabilityTerm(
  block: Block,
  previous: tf.Tensor,
  index: number,
  params: (name: string) => tf.Tensor,
  signs: (block: number, shape: number[]) => tf.Tensor,
): number {
  const gOut = signs(index, block.output.shape);
  // The input that is F_{i−1} (a cell of two inputs keeps the other fixed); the first if none is.
  const wrt = Math.max(0, block.inputs.indexOf(previous));
  let gIn = grad((x) => {
    const inputs = block.inputs.map((t, k) => (k === wrt ? x : t));
    return tf.sum(tf.mul(block.fn(new TensorOps(params), inputs), gOut));
  }, block.inputs[wrt]!);
  const sameShape = gIn.shape.every((d, k) => d === gOut.shape[k]) && gIn.rank === gOut.rank;
  if (sameShape && tf.all(tf.equal(gIn, gOut)).dataSync()[0]) return -Infinity;
  if (gIn.rank === 4 && gIn.shape[1] === 2 * gOut.shape[1]!) gIn = pixelUnshuffle(gIn);
  const a = matrixOf(gIn);
  const b = matrixOf(gOut);
  if (a.rows !== b.rows) throw new Error(`az_nas: block ${index}'s input and output gradients have ${a.rows} and ${b.rows} rows`);
  const m = gram(Float64Array.from(gIn.dataSync()), Float64Array.from(gOut.dataSync()), a.rows, a.cols, b.cols);
  for (let k = 0; k < m.length; k++) m[k]! /= a.rows;
  const sigma = largestSingularValue(m, a.cols, b.cols);
  return -sigma - 1 / (sigma + 1e-6) + 2;
}

/**
 * [B, 2H, 2W, C] → [B, H, W, 4C], the 2×2 neighbourhood of each output position as channels.
 * PyTorch's PixelUnshuffle(2) orders them c·4 + dy·2 + dx, this (dy·2 + dx)·C + c: a permutation of
 * G_in's columns, which leaves the singular values unchanged.
 */
function pixelUnshuffle(g: tf.Tensor): tf.Tensor {
  const [b, h, w, c] = g.shape as number[];
  return tf.reshape(tf.transpose(tf.reshape(g, [b!, h! / 2, 2, w! / 2, 2, c!]), [0, 1, 3, 2, 4, 5]), [b!, h! / 2, w! / 2, 4 * c!]);
}

/** A feature map as a (B·H·W) × C matrix in NHWC row order (a vector: B × C). */
function matrixOf(t: tf.Tensor): { rows: number; cols: number } {
  const cols = t.shape[t.rank - 1]!;
  return { rows: t.size / cols, cols };
}

function centreColumns(values: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = Float64Array.from(values as ArrayLike<number>);
  for (let c = 0; c < cols; c++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += out[r * cols + c]!;
    mean /= rows;
    for (let r = 0; r < rows; r++) out[r * cols + c]! -= mean;
  }
  return out;
}

/** AᵀB: A rows × ca, B rows × cb, row-major; float64. */
function gram(a: Float64Array, b: Float64Array, rows: number, ca: number, cb: number): Float64Array {
  const out = new Float64Array(ca * cb);
  for (let r = 0; r < rows; r++) {
    const ra = r * ca;
    const rb = r * cb;
    for (let i = 0; i < ca; i++) {
      const v = a[ra + i]!;
      if (v === 0) continue;
      const o = i * cb;
      for (let j = 0; j < cb; j++) out[o + j]! += v * b[rb + j]!;
    }
  }
  return out;
}

/** σ_max of an r × c matrix: √ of the largest eigenvalue of MᵀM (c × c). */
function largestSingularValue(m: Float64Array, r: number, c: number): number {
  const mtm = new Float64Array(c * c);
  for (let k = 0; k < r; k++) for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) mtm[i * c + j]! += m[k * c + i]! * m[k * c + j]!;
  let max = 0;
  for (const v of symmetricEigenvalues(mtm, c)) max = Math.max(max, v);
  return Math.sqrt(max);
}
