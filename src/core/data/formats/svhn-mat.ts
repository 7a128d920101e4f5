import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { join } from 'path';
import type { DataFormat } from '../format';
import { svhnSet } from '../svhn';

/** SVHN's train_32x32.mat (MATLAB v5), or a directory holding it. */
export const svhnMat: DataFormat = {
  name: 'svhn-mat',
  expects: (spec) => (spec.name === 'svhn' ? 'train_32x32.mat (MATLAB v5) or a directory containing it' : null),
  async open({ path, stat, names }, spec) {
    if (spec.name !== 'svhn' || !stat) return null;
    const file = names ? (names.has('train_32x32.mat') ? join(path, 'train_32x32.mat') : null) : path.endsWith('.mat') ? path : null;
    if (!file) return null;
    const bytes = await fsp.readFile(file);
    return svhnSet({ path: file, sha256: createHash('sha256').update(bytes).digest('hex') }, bytes);
  },
};
