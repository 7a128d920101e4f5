import { FormatError } from '../../errors';
import type { UsedFile } from './files';
import { intsOf, isDict, isNdArray, readPickle, type PickleDict } from './pickle';
import type { SampleSet } from './sample-set';
import { BYTE_TO_UNIT } from './transform';

/**
 * Python pickle batches of planar-RGB uint8 images: a dict with `data` (uint8 [N, 3·S·S]: the R
 * plane, then G, then B, each S×S row-major) and a label list. CIFAR-10 python batches
 * (`data_batch_1..5`, key `labels`), CIFAR-100's `train` (key `fine_labels`), and the downsampled
 * ImageNet16 batches (`train_data_batch_1..10`, key `labels`, classes 1-based: NASLib's
 * ImageNet16 dataset keeps labels 1..120 and subtracts 1, so other classes are dropped).
 */
export interface PickleBatchLayout {
  side: number;
  labelKey: string;
  classes: number;
  /** ImageNet16: labels are 1-based and only 1..classes are kept (NASLib's use_num_of_class_only). */
  oneBasedSubset?: boolean;
}

export const PICKLE_LAYOUTS = {
  cifar10: { side: 32, labelKey: 'labels', classes: 10 },
  cifar100: { side: 32, labelKey: 'fine_labels', classes: 100 },
  'ImageNet16-120': { side: 16, labelKey: 'labels', classes: 120, oneBasedSubset: true },
} as const satisfies Record<string, PickleBatchLayout>;

/** One decoded batch file: planar pixels and labels (0-based, filtered for ImageNet16). */
interface DecodedBatch {
  pixels: Uint8Array;
  rows: number[];
  labels: number[];
}

function decodeBatch(bytes: Uint8Array, file: string, layout: PickleBatchLayout): DecodedBatch {
  const root = readPickle(bytes, file);
  if (!isDict(root)) throw new FormatError(file, 'the pickle is not a dict (expected keys data and labels)');
  const dict = root as PickleDict;
  const data = dict.map.get('data');
  const rowBytes = 3 * layout.side * layout.side;
  if (!isNdArray(data) || data.dtype !== '|u1' || data.shape.length !== 2 || data.shape[1] !== rowBytes || data.fortran) {
    throw new FormatError(
      file,
      `key data must be a C-ordered uint8 array [N, ${rowBytes}] (got ${isNdArray(data) ? `${data.dtype} ${JSON.stringify(data.shape)}` : 'no array'})`,
    );
  }
  if (!dict.map.has(layout.labelKey)) throw new FormatError(file, `no key ${layout.labelKey} (keys: ${[...dict.map.keys()].join(', ')})`);
  const raw = intsOf(dict.map.get(layout.labelKey), file, layout.labelKey);
  if (raw.length !== data.shape[0]) throw new FormatError(file, `${raw.length} labels for ${data.shape[0]} images`);
  const rows: number[] = [];
  const labels: number[] = [];
  raw.forEach((l, i) => {
    const label = layout.oneBasedSubset ? l - 1 : l;
    if (layout.oneBasedSubset && (l < 1 || l > layout.classes)) return;
    if (label < 0 || label >= layout.classes) throw new FormatError(file, `${layout.labelKey}[${i}] is ${l}, outside 0..${layout.classes - 1}`);
    rows.push(i);
    labels.push(label);
  });
  return { pixels: data.data, rows, labels };
}

/** The training set made of pickle batch files, in the given order (their bytes already read). */
export function pickleBatchSet(files: { used: UsedFile; bytes: Uint8Array }[], layout: PickleBatchLayout): SampleSet {
  const batches = files.map((f) => decodeBatch(f.bytes, f.used.path, layout));
  const index: [number, number][] = batches.flatMap((b, k) => b.rows.map((r) => [k, r] as [number, number]));
  const labels = Int32Array.from(batches.flatMap((b) => b.labels));
  const plane = layout.side * layout.side;
  return {
    count: index.length,
    labels,
    files: files.map((f) => f.used),
    async read(indices, out) {
      indices.forEach((i, n) => {
        const [k, r] = index[i]!;
        const px = batches[k]!.pixels;
        const src = r * 3 * plane;
        const base = n * 3 * plane;
        for (let p = 0; p < plane; p++) {
          for (let c = 0; c < 3; c++) out[base + 3 * p + c] = BYTE_TO_UNIT[px[src + c * plane + p]!]!;
        }
      });
    },
    close: async () => undefined,
  };
}
