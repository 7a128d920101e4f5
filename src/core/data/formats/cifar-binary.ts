import { join } from 'path';
import type { TaskSpec } from '../../tasks';
import { openCifarFile } from '../cifar';
import { naturalCompare } from '../files';
import type { DataFormat } from '../format';
import { concatSampleSets, openAll } from '../sample-set';

const cifarOf = (spec: TaskSpec) => (spec.name === 'cifar10' || spec.name === 'cifar100' ? spec.name : null);

/** CIFAR-10/100's binary version: data_batch_N.bin (CIFAR-10), train.bin (CIFAR-100). */
export const cifarBinary: DataFormat = {
  name: 'cifar-binary',
  expects: (spec) =>
    spec.name === 'cifar10'
      ? 'a CIFAR-10 binary file (data_batch_N.bin), a directory of data_batch_*.bin'
      : spec.name === 'cifar100'
        ? 'a CIFAR-100 binary file (train.bin), a directory containing train.bin'
        : null,
  async open({ path, stat, names }, spec) {
    const cifar = cifarOf(spec);
    if (!cifar || !stat) return null;
    if (!names) return stat.isFile() && !path.endsWith('.npy') && !path.endsWith('.mat') ? openCifarFile(path, cifar) : null;
    if (cifar === 'cifar100') return names.has('train.bin') ? openCifarFile(join(path, 'train.bin'), 'cifar100') : null;
    const batches = [...names].filter((n) => /^data_batch_\d+\.bin$/.test(n)).sort(naturalCompare);
    if (batches.length === 0) return null;
    const sampleSize = spec.inputShape.reduce((a, b) => a * b, 1);
    return concatSampleSets(await openAll(batches.map((n) => () => openCifarFile(join(path, n), 'cifar10'))), sampleSize);
  },
};
