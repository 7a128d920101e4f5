import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { FormatError } from '../../errors';
import type { TaskSpec } from '../tasks';
import { cachedScan, hashFile, readExactly } from './files';
import { decodeNpyValues, parseNpyHeader, readNpyHeader, type NpyHeader } from './npy';
import type { SampleSet } from './sample-set';
import { scaleByte } from './transform';

/**
 * How a stored image array maps onto the task's NHWC sample (H, W, C):
 * - 'nhwc': stored (N, H, W, C);
 * - 'nchw': stored (N, C, H, W) (PyTorch order, e.g. NAS-Bench-360's spherical CIFAR-100);
 * - 'swap': stored (N, W, H), one channel: NASLib's NinaPro rule, np.transpose(data, (0, 2, 1))
 *   then a channel axis, so NAS-Bench-360's (N, 52, 16) arrays become 16×52×1 samples.
 * The layout follows from the task's full sample shape, which is never ambiguous for the tasks
 * here: NHWC and NCHW could only coincide if H = W = C.
 */
export type ImageLayout = 'nhwc' | 'nchw' | 'swap';

export function imageLayout(file: string, shape: readonly number[], spec: TaskSpec): ImageLayout {
  const [H, W, C] = spec.inputShape;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const rest = shape.slice(1);
  if (shape.length === 4 && same(rest, [H, W, C])) return 'nhwc';
  if (shape.length === 4 && same(rest, [C, H, W])) return 'nchw';
  if (shape.length === 3 && C === 1 && same(rest, [W, H])) return 'swap';
  const accepted = [`(N, ${H}, ${W}, ${C}) NHWC`, `(N, ${C}, ${H}, ${W}) NCHW`];
  if (C === 1) accepted.push(`(N, ${W}, ${H}) as NAS-Bench-360 stores it (NASLib swaps the last two axes and adds a channel axis)`);
  throw new FormatError(file, `images shape (${shape.join(', ')}) does not fit task ${spec.name}: expected ${accepted.join(', or ')}`);
}

/** Opens an images .npy with its labels .npy: validates dtype, shape, count and every label. */
export async function openNpyPair(imagesFile: string, labelsFile: string, spec: TaskSpec): Promise<SampleSet> {
  const labelsPart = await readLabels(labelsFile, spec);
  const fh = await fsp.open(imagesFile, 'r');
  try {
    const { size } = await fh.stat();
    const header = await readNpyHeader(fh, imagesFile, size);
    const { dtype, shape } = header;
    if (!(dtype.kind === 'f' || (dtype.kind === 'u' && dtype.size === 1))) {
      throw new FormatError(
        imagesFile,
        `images dtype ${dtype.descr} is not supported: expected uint8 (|u1, scaled to [0, 1]) or float (<f2, <f4, <f8, used as stored)`,
      );
    }
    const layout = imageLayout(imagesFile, shape, spec);
    const count = shape[0]!;
    if (count !== labelsPart.labels.length) {
      throw new FormatError(labelsFile, `labels count ${labelsPart.labels.length} does not match the ${count} images in ${imagesFile}`);
    }
    const sha256 = await cachedScan(imagesFile, 'sha256', () => hashFile(imagesFile));
    const [H, W, C] = spec.inputShape;
    const sampleSize = H * W * C;
    const sampleBytes = sampleSize * dtype.size;
    const bytes = new Uint8Array(sampleBytes);
    const values = new Float64Array(sampleSize);
    return {
      count,
      labels: labelsPart.labels,
      files: [
        { path: imagesFile, sha256 },
        { path: labelsFile, sha256: labelsPart.sha256 },
      ],
      async read(indices, out) {
        for (let n = 0; n < indices.length; n++) {
          await readExactly(fh, imagesFile, header.dataOffset + indices[n]! * sampleBytes, sampleBytes, bytes);
          decodeNpyValues(bytes, dtype, sampleSize, values);
          writeSample(values, layout, header, spec, out, n * sampleSize);
        }
      },
      close: () => fh.close(),
    };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** One stored sample (C-order values of shape[1..]) → NHWC float32 in the task's geometry. */
function writeSample(values: Float64Array, layout: ImageLayout, header: NpyHeader, spec: TaskSpec, out: Float32Array, base: number): void {
  const [H, W, C] = spec.inputShape;
  // NASLib casts to float32 (astype(np.float32)); uint8 goes through ToTensor's /255.
  const convert = header.dtype.kind === 'u' ? scaleByte : Math.fround;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) {
        const src = layout === 'nhwc' ? (y * W + x) * C + c : layout === 'nchw' ? (c * H + y) * W + x : x * H + y;
        out[base + (y * W + x) * C + c] = convert(values[src]!);
      }
    }
  }
}

/**
 * A labels .npy: shape (N,) or (N, 1), any integer dtype, or floats holding whole numbers
 * (NASLib casts with astype(np.int64); a fractional label means a wrong file, so it is refused).
 */
async function readLabels(file: string, spec: TaskSpec): Promise<{ labels: Int32Array; sha256: string }> {
  const buf = await fsp.readFile(file);
  const sha256 = createHash('sha256').update(buf).digest('hex');
  const parsed = parseNpyHeader(file, buf);
  if ('needBytes' in parsed) throw new FormatError(file, `truncated npy header: it needs ${parsed.needBytes} bytes, the file has ${buf.length}`);
  const { dtype, shape, dataOffset } = parsed;
  const count = shape.reduce((a, b) => a * b, 1);
  if (buf.length - dataOffset !== count * dtype.size) {
    throw new FormatError(file, `npy data is ${buf.length - dataOffset} bytes, but shape (${shape.join(', ')}) of ${dtype.descr} needs ${count * dtype.size}`);
  }
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw new FormatError(file, `labels shape (${shape.join(', ')}) is not (N,) or (N, 1)`);
  }
  if (dtype.kind === 'b') throw new FormatError(file, `labels dtype ${dtype.descr} is boolean: expected integer class indices`);
  const values = new Float64Array(count);
  decodeNpyValues(buf.subarray(dataOffset), dtype, count, values);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v)) throw new FormatError(file, `label[${i}] = ${v} is not a whole number`);
    if (v < 0 || v >= spec.outputs)
      throw new FormatError(file, `label[${i}] = ${v} is outside 0..${spec.outputs - 1} (task ${spec.name} has ${spec.outputs} classes)`);
    labels[i] = v;
  }
  return { labels, sha256 };
}
