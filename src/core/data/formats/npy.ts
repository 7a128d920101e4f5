import { promises as fsp } from 'fs';
import { basename, dirname, join } from 'path';
import { InputError } from '../../../errors';
import type { TaskSpec } from '../../tasks';
import type { DataFormat } from '../format';
import { openNpyPair } from '../npy-source';
import { concatSampleSets, openAll, type SampleSet } from '../sample-set';

const PAIRS = 'a directory with images.npy and labels.npy, an images .npy with labels.npy next to it, or a pair "IMAGES.npy,LABELS.npy"';
const NINAPRO = 'a NAS-Bench-360 directory with ninapro_train.npy and label_train.npy (and optionally ninapro_val.npy, label_val.npy)';

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isFile();
  } catch {
    return false;
  }
}

/** NAS-Bench-360's NinaPro split files; NASLib trains on train and val concatenated, in that order. */
async function openNinapro(path: string, names: Set<string>, spec: TaskSpec): Promise<SampleSet> {
  const splits = ['train'];
  if (names.has('ninapro_val.npy') || names.has('label_val.npy')) {
    if (!(names.has('ninapro_val.npy') && names.has('label_val.npy'))) {
      throw new InputError('data', path, 'ninapro_val.npy and label_val.npy together (NASLib trains on train + val), or neither');
    }
    splits.push('val');
  }
  const parts = await openAll(splits.map((s) => () => openNpyPair(join(path, `ninapro_${s}.npy`), join(path, `label_${s}.npy`), spec)));
  return concatSampleSets(
    parts,
    spec.inputShape.reduce((a, b) => a * b, 1),
  );
}

/** The labels file next to an images .npy (images.npy → labels.npy, ninapro_<split>.npy → label_<split>.npy). */
async function openSingleNpy(path: string, spec: TaskSpec): Promise<SampleSet> {
  const name = basename(path);
  const ninapro = /^ninapro_(\w+)\.npy$/.exec(name);
  const labelsName = name === 'images.npy' ? 'labels.npy' : ninapro ? `label_${ninapro[1]}.npy` : null;
  const labels = labelsName ? join(dirname(path), labelsName) : null;
  if (!labels || !(await isFile(labels))) {
    throw new InputError(
      'data',
      path,
      `an images .npy with its labels next to it (images.npy → labels.npy, ninapro_<split>.npy → label_<split>.npy), or a pair "IMAGES.npy,LABELS.npy"`,
    );
  }
  return openNpyPair(path, labels, spec);
}

/** Images and labels as NumPy .npy files (any class task; NinaPro's release is in this format). */
export const npyFiles: DataFormat = {
  name: 'npy',
  expects: (spec) => (spec.taskonomy ? null : spec.name === 'ninapro' ? `${NINAPRO}, ${PAIRS}` : PAIRS),
  async open({ path, stat, names }, spec) {
    if (spec.taskonomy) return null;
    if (!stat) {
      // "IMAGES.npy,LABELS.npy": an explicit pair (only when no file has that literal name).
      const parts = path.split(',');
      if (parts.length !== 2 || !parts.every((p) => p.endsWith('.npy'))) return null;
      for (const p of parts) if (!(await isFile(p))) throw new InputError('data', path, `both files of the pair must exist; ${JSON.stringify(p)} does not`);
      return openNpyPair(parts[0]!, parts[1]!, spec);
    }
    if (!names) return stat.isFile() && path.endsWith('.npy') ? openSingleNpy(path, spec) : null;
    if (names.has('images.npy') && names.has('labels.npy')) return openNpyPair(join(path, 'images.npy'), join(path, 'labels.npy'), spec);
    if (spec.name === 'ninapro' && names.has('ninapro_train.npy') && names.has('label_train.npy')) return openNinapro(path, names, spec);
    return null;
  },
};
