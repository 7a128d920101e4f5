import { promises as fsp } from 'fs';
import { FormatError } from '../../errors';
import { cachedScan, hashFile, readExactly } from './files';
import type { SampleSet } from './sample-set';
import { BYTE_TO_UNIT } from './transform';

/**
 * CIFAR "binary version" files (https://www.cs.toronto.edu/~kriz/cifar.html): fixed-size records,
 * CIFAR-10 = 1 label byte + 3072 pixel bytes, CIFAR-100 = 2 label bytes (coarse, fine) + 3072.
 * Pixels: the R plane, then G, then B, each 32×32 row-major.
 */
export type CifarVariant = 'cifar10' | 'cifar100';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXEL_BYTES = 3 * PLANE;

interface VariantInfo {
  labelBytes: number;
  classes: number;
  /** CIFAR-100 only: the coarse label's class count, validated too (a wrong file shows up here). */
  coarseClasses?: number;
}

const VARIANTS: Record<CifarVariant, VariantInfo> = {
  cifar10: { labelBytes: 1, classes: 10 },
  cifar100: { labelBytes: 2, classes: 100, coarseClasses: 20 },
};

export function cifarRecordSize(variant: CifarVariant): number {
  return VARIANTS[variant].labelBytes + PIXEL_BYTES;
}

/** Opens one CIFAR binary file: validates size and every label (one streaming pass, also the sha256). */
export async function openCifarFile(file: string, variant: CifarVariant): Promise<SampleSet> {
  const info = VARIANTS[variant];
  const recordSize = cifarRecordSize(variant);
  const { size } = await fsp.stat(file);
  if (size === 0 || size % recordSize !== 0) {
    const name = variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100';
    const layout = info.labelBytes === 1 ? '1 label byte' : '2 label bytes (coarse, fine)';
    throw new FormatError(file, `size ${size} bytes is not a positive multiple of the ${name} record size ${recordSize} (${layout} + 3072 pixel bytes)`);
  }
  const count = size / recordSize;
  const scan = await cachedScan(file, `cifar:${variant}`, async () => {
    const labels = new Int32Array(count);
    const coarse = new Int32Array(count);
    const sha256 = await hashFile(file, (chunk, offset) => {
      const end = offset + chunk.length;
      for (let r = Math.floor(offset / recordSize); r * recordSize < end; r++) {
        for (let k = 0; k < info.labelBytes; k++) {
          const p = r * recordSize + k;
          if (p < offset || p >= end) continue;
          // The fine label is the last label byte (CIFAR-100: coarse, then fine).
          if (k === info.labelBytes - 1) labels[r] = chunk[p - offset]!;
          else coarse[r] = chunk[p - offset]!;
        }
      }
    });
    for (let r = 0; r < count; r++) {
      if (labels[r]! >= info.classes) {
        throw new FormatError(file, `label of record ${r} is ${labels[r]}, outside 0..${info.classes - 1} (${variant} has ${info.classes} classes)`);
      }
      if (info.coarseClasses !== undefined && coarse[r]! >= info.coarseClasses) {
        throw new FormatError(file, `coarse label of record ${r} is ${coarse[r]}, outside 0..${info.coarseClasses - 1} (is this a CIFAR-100 file?)`);
      }
    }
    return { sha256, labels };
  });
  const fh = await fsp.open(file, 'r');
  const bytes = new Uint8Array(PIXEL_BYTES);
  return {
    count,
    labels: scan.labels,
    files: [{ path: file, sha256: scan.sha256 }],
    async read(indices, out) {
      for (let n = 0; n < indices.length; n++) {
        await readExactly(fh, file, indices[n]! * recordSize + info.labelBytes, PIXEL_BYTES, bytes);
        const base = n * PIXEL_BYTES;
        // Planar RGB → interleaved NHWC.
        for (let p = 0; p < PLANE; p++) {
          out[base + 3 * p] = BYTE_TO_UNIT[bytes[p]!]!;
          out[base + 3 * p + 1] = BYTE_TO_UNIT[bytes[PLANE + p]!]!;
          out[base + 3 * p + 2] = BYTE_TO_UNIT[bytes[2 * PLANE + p]!]!;
        }
      }
    },
    close: () => fh.close(),
  };
}
