import { FormatError } from '../../errors';
import type { UsedFile } from './files';
import { readMat5 } from './mat5';
import type { SampleSet } from './sample-set';
import { BYTE_TO_UNIT } from './transform';

/**
 * SVHN's `train_32x32.mat` as torchvision reads it: X uint8 [32, 32, 3, N] (MATLAB column-major),
 * transposed to [N, C, H, W]; y [N, 1] with digit 0 stored as 10 (torchvision: `np.place(labels, labels == 10, 0)`).
 */
export function svhnSet(used: UsedFile, bytes: Uint8Array): SampleSet {
  const vars = readMat5(bytes, used.path);
  const X = vars.get('X');
  const y = vars.get('y');
  if (!X || X.class !== 'uint8' || X.dims.length !== 4 || X.dims[0] !== 32 || X.dims[1] !== 32 || X.dims[2] !== 3) {
    throw new FormatError(used.path, `variable X must be uint8 32x32x3xN (got ${X ? `${X.class} ${X.dims.join('x')}` : 'none'})`);
  }
  const n = X.dims[3]!;
  if (!y || y.data.length !== n) throw new FormatError(used.path, `variable y must hold ${n} labels (got ${y ? y.data.length : 'none'})`);
  const labels = Int32Array.from({ length: n }, (_, i) => {
    const l = y.data[i]!;
    if (!Number.isInteger(l) || l < 1 || l > 10) throw new FormatError(used.path, `y[${i}] is ${l}, outside 1..10`);
    return l === 10 ? 0 : l;
  });
  const px = X.data as Uint8Array;
  return {
    count: n,
    labels,
    files: [used],
    async read(indices, out) {
      indices.forEach((i, k) => {
        const base = k * 3072;
        for (let row = 0; row < 32; row++) {
          for (let col = 0; col < 32; col++) {
            for (let c = 0; c < 3; c++) out[base + (row * 32 + col) * 3 + c] = BYTE_TO_UNIT[px[row + 32 * col + 1024 * c + 3072 * i]!]!;
          }
        }
      });
    },
    close: async () => undefined,
  };
}
