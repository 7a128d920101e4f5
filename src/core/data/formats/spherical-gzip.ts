import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { join } from 'path';
import { gunzipSync } from 'zlib';
import { FormatError } from '../../../errors';
import type { TaskSpec } from '../../tasks';
import type { DataFormat } from '../format';
import { intsOf, isDict, isNdArray, readPickle, type NdArray } from '../pickle';
import type { SampleSet } from '../sample-set';

const FILE = 's2_cifar100.gz';

/**
 * NAS-Bench-360's Spherical CIFAR-100 release, `s2_cifar100.gz`: a gzipped pickle of
 * {train: {images, labels}, test: …}, images float [N, 3, 60, 60] (channels first), labels int.
 * The train split is read, its values as stored (NAS-Bench-360's `load_spherical_data` casts them
 * to float32 and normalises nothing), transposed to [60, 60, 3].
 */
export const sphericalGzip: DataFormat = {
  name: 'spherical-gzip',
  expects: (spec) => (spec.name === 'scifar100' ? `NAS-Bench-360's ${FILE} (gzipped pickle) or a directory containing it` : null),
  async open({ path, stat, names }, spec) {
    if (spec.name !== 'scifar100' || !stat) return null;
    const file = names ? (names.has(FILE) ? join(path, FILE) : null) : path.endsWith('.gz') ? path : null;
    if (!file) return null;
    const bytes = await fsp.readFile(file);
    return sphericalSet(file, bytes, spec);
  },
};

function sphericalSet(file: string, gz: Buffer, spec: TaskSpec): SampleSet {
  let raw: Buffer;
  try {
    raw = gunzipSync(gz);
  } catch (err) {
    throw new FormatError(file, `not a gzip file (${(err as Error).message})`);
  }
  const root = readPickle(raw, file);
  const train = isDict(root) ? root.map.get('train') : undefined;
  if (!isDict(train)) throw new FormatError(file, 'expected a dict with key train (a dict of images and labels)');
  const images = train.map.get('images');
  const [H, W, C] = spec.inputShape;
  if (
    !isNdArray(images) ||
    images.fortran ||
    images.shape.length !== 4 ||
    images.shape[1] !== C ||
    images.shape[2] !== H ||
    images.shape[3] !== W ||
    !/^<f[48]$/.test(images.dtype)
  ) {
    throw new FormatError(
      file,
      `train.images must be a C-ordered float32 or float64 array [N, ${C}, ${H}, ${W}] (got ${isNdArray(images) ? `${images.dtype} ${JSON.stringify(images.shape)}` : 'no array'})`,
    );
  }
  const labels = intsOf(train.map.get('labels'), file, 'train.labels');
  const count = images.shape[0]!;
  if (labels.length !== count) throw new FormatError(file, `${labels.length} labels for ${count} images`);
  labels.forEach((l, i) => {
    if (l < 0 || l >= spec.outputs) throw new FormatError(file, `train.labels[${i}] is ${l}, outside 0..${spec.outputs - 1}`);
  });
  const values = floatsOf(images);
  const plane = H * W;
  return {
    count,
    labels,
    files: [{ path: file, sha256: createHash('sha256').update(gz).digest('hex') }],
    async read(indices, out) {
      indices.forEach((i, n) => {
        const src = i * C * plane;
        const base = n * C * plane;
        for (let p = 0; p < plane; p++) for (let c = 0; c < C; c++) out[base + C * p + c] = values[src + c * plane + p]!;
      });
    },
    close: async () => undefined,
  };
}

/** The array's elements as numbers (float32 stays exact; float64 rounds to float32 as the reference's cast does). */
function floatsOf(a: NdArray): Float32Array | Float64Array {
  const n = a.shape.reduce((x, y) => x * y, 1);
  // A copy when unaligned (Buffer.slice would be a view at the same offset).
  const aligned = a.data.byteOffset % 8 === 0 ? a.data : Uint8Array.from(a.data);
  return a.dtype === '<f4' ? new Float32Array(aligned.buffer, aligned.byteOffset, n) : new Float64Array(aligned.buffer, aligned.byteOffset, n);
}
