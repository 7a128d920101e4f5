import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { join } from 'path';
import type { TaskSpec } from '../../tasks';
import { naturalCompare } from '../files';
import type { DataFormat } from '../format';
import { PICKLE_LAYOUTS, pickleBatchSet } from '../pickle-batches';

/**
 * The python-pickle training batches, in NASLib's order: CIFAR-10's cifar-10-batches-py/data_batch_1..5,
 * CIFAR-100's cifar-100-python/train, ImageNet16's train_data_batch_1..10.
 */
const PATTERNS: Partial<Record<TaskSpec['name'], { files: RegExp; expects: string }>> = {
  cifar10: { files: /^data_batch_\d+$/, expects: 'a cifar-10-batches-py directory (data_batch_1..5, python pickle)' },
  cifar100: { files: /^train$/, expects: 'a cifar-100-python directory (train, python pickle)' },
  'ImageNet16-120': { files: /^train_data_batch_\d+$/, expects: 'an ImageNet16 directory of train_data_batch_1..10 (python pickle)' },
};

export const pickleBatches: DataFormat = {
  name: 'pickle-batches',
  expects: (spec) => PATTERNS[spec.name]?.expects ?? null,
  async open({ path, names }, spec) {
    const pattern = PATTERNS[spec.name];
    if (!pattern || !names) return null;
    const batches = [...names].filter((n) => pattern.files.test(n)).sort(naturalCompare);
    if (batches.length === 0) return null;
    const files = await Promise.all(
      batches.map(async (name) => {
        const file = join(path, name);
        const bytes = await fsp.readFile(file);
        return { used: { path: file, sha256: createHash('sha256').update(bytes).digest('hex') }, bytes };
      }),
    );
    return pickleBatchSet(files, PICKLE_LAYOUTS[spec.name as keyof typeof PICKLE_LAYOUTS]);
  },
};
