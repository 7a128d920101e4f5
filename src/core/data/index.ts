import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { basename, dirname, join } from 'path';
import { InputError, IntegrityError } from '../../errors';
import type { TaskName } from '../names';
import type { Rng } from '../rng';
import { TASK_SPECS, type TaskSpec } from '../tasks';
import type { DataSpec, Minibatch, MinibatchObjectSpec } from '../types';
import { openCifarFile } from './cifar';
import { naturalCompare, sourceDigest } from './files';
import { decodeMinibatch } from './minibatch-object';
import { openNpyPair } from './npy-source';
import { PICKLE_LAYOUTS, pickleBatchSet } from './pickle-batches';
import { concatSampleSets, openAll, type SampleSet } from './sample-set';
import { svhnSet } from './svhn';
import { syntheticMinibatch } from './synthetic';
import { findTaskonomyViews, loadTaskonomyMinibatch } from './taskonomy';
import { applyTrainingTransform, planMinibatch, trainSplit } from './transform';

export { sourceDigest } from './files';
export { planMinibatch, trainSplit, TRAIN_PORTION, type AugmentDraw, type MinibatchPlan } from './transform';

export interface MinibatchOptions {
  task: TaskName;
  batchSize: number;
  /** A stream forked by the caller (e.g. rng.fork('data')). */
  rng: Rng;
  /** Which of a job's minibatches (a published data set stores both): the second is zico's and swap's. */
  which?: 'first' | 'second';
}

/**
 * Load one minibatch for a task from a DataSpec. Synthetic data is seeded by rng; file sources
 * draw `batchSize` samples by a seeded random permutation of the first 70 % of the training
 * indices (NASLib's train_portion = 0.7), then apply the task's training augmentation and
 * normalisation. The same (spec, task, batch size, rng seed) always give the same batch.
 */
export async function loadMinibatch(spec: DataSpec, opts: MinibatchOptions): Promise<Minibatch> {
  const { task, batchSize, rng } = opts;
  if (!(task in TASK_SPECS)) throw new InputError('task', task, `valid: ${Object.keys(TASK_SPECS).join(', ')}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new InputError('batchSize', batchSize, 'a positive integer');
  if (spec.source === 'synthetic') return syntheticMinibatch(task, batchSize, rng);
  if (spec.source === 'minibatch') return loadMinibatchObject(spec, opts.which ?? 'first', batchSize);
  if (spec.source === 'dataset') throw new InputError('data', spec.dataset, 'a data set the producer resolves to its minibatch objects (not computed directly)');
  if (spec.source === 'path') {
    if (typeof spec.path !== 'string' || spec.path.length === 0) throw new InputError('data', spec.path, `a file or directory: ${expectedFiles(TASK_SPECS[task])}`);
    if (TASK_SPECS[task].taskonomy) return loadTaskonomy(spec.path, TASK_SPECS[task], batchSize, rng);
    return loadFromPath(spec.path, TASK_SPECS[task], batchSize, rng);
  }
  throw new InputError('data.source', (spec as { source: unknown }).source, "'synthetic' or 'path'");
}

/**
 * The identity of a task's data, known before any minibatch is drawn (part of a triple's key):
 * `synthetic` (its batch follows from the seed, which the key has), or `sha256:` + the source
 * digest: CIFAR/.npy → the `sha256` every minibatch of the source records; Taskonomy → the digest of
 * its view lists and view templates (the drawn views' files are known only per job).
 */
export async function dataIdentity(spec: DataSpec, task: TaskName): Promise<string> {
  if (spec.source === 'synthetic') return 'synthetic';
  if (spec.source === 'dataset' || spec.source === 'minibatch') throw new InputError('data', spec.dataset, 'a data set is identified by its manifest (src/storage/data-sets.ts)');
  const taskSpec = TASK_SPECS[task];
  if (taskSpec.taskonomy) {
    const st = await statOrNull(spec.path);
    const views = st?.isDirectory() ? await findTaskonomyViews(spec.path) : null;
    if (!views) throw new InputError('data', spec.path, `a directory with ${expectedFiles(taskSpec)}`);
    const templates = { path: '\u0000templates', sha256: createHash('sha256').update(views.templates.join('\n')).digest('hex') };
    return `sha256:${sourceDigest([...views.lists, templates])}`;
  }
  const set = await openPath(spec.path, taskSpec);
  try {
    return `sha256:${sourceDigest(set.files)}`;
  } finally {
    await set.close();
  }
}

/** A fetched minibatch object (the worker verified it on download; checked again here against cache damage). */
async function loadMinibatchObject(spec: MinibatchObjectSpec, which: 'first' | 'second', batchSize: number): Promise<Minibatch> {
  const ref = which === 'first' ? spec.minibatch : spec.second;
  const path = which === 'first' ? spec.path : spec.secondPath;
  if (!path) throw new InputError('data.path', path, `the local copy of minibatch ${ref.sha256} (the worker fetches it before computing)`);
  const bytes = await fsp.readFile(path);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== ref.sha256) throw new IntegrityError(`minibatch ${ref.sha256} of data set ${spec.dataset}: the local copy ${path} hashes to ${sha}`);
  return decodeMinibatch(bytes, ref.sha256, batchSize);
}

/** The files of a (non-Taskonomy) file source with their sha256, for a data manifest. */
export async function listSourceFiles(path: string, task: TaskName): Promise<{ path: string; sha256: string }[]> {
  if (TASK_SPECS[task].taskonomy) return [];
  const set = await openPath(path, TASK_SPECS[task]);
  try {
    return set.files.map((f) => ({ path: basename(f.path), sha256: f.sha256 }));
  } finally {
    await set.close();
  }
}

async function loadTaskonomy(path: string, spec: TaskSpec, batchSize: number, rng: Rng): Promise<Minibatch> {
  const st = await statOrNull(path);
  if (!st?.isDirectory()) throw new InputError('data', path, `a directory: ${expectedFiles(spec)}`);
  const views = await findTaskonomyViews(path);
  if (!views) throw new InputError('data', path, `a directory with ${expectedFiles(spec)}`);
  return loadTaskonomyMinibatch(path, spec.name, batchSize, rng, views);
}

async function loadFromPath(path: string, spec: TaskSpec, batchSize: number, rng: Rng): Promise<Minibatch> {
  const set = await openPath(path, spec);
  try {
    const split = trainSplit(set.count);
    if (batchSize > split) {
      throw new InputError('batchSize', batchSize, `at most ${split}: the batch comes from the first 70 % of the ${set.count} training samples in ${path}`);
    }
    const plan = planMinibatch(spec, set.count, batchSize, rng);
    const [H, W, C] = spec.inputShape;
    const shape = [batchSize, H, W, C] as const;
    const raw = new Float32Array(batchSize * H * W * C);
    await set.read(plan.indices, raw);
    const inputs = applyTrainingTransform(raw, shape, spec, plan.augment);
    const labels = Int32Array.from(plan.indices, (i) => set.labels[i]!);
    return { inputs, inputShape: [...shape], target: { kind: 'class', labels }, source: path, sha256: sourceDigest(set.files) };
  } finally {
    await set.close();
  }
}

/** What a file source for the task may look like (the "expected" part of the errors). */
function expectedFiles(spec: TaskSpec): string {
  const npy = 'a directory with images.npy and labels.npy, an images .npy with labels.npy next to it, or a pair "IMAGES.npy,LABELS.npy"';
  switch (spec.name) {
    case 'cifar10':
      return `a CIFAR-10 binary file (data_batch_N.bin), a directory of data_batch_*.bin, or ${npy}`;
    case 'cifar100':
      return `a CIFAR-100 binary file (train.bin), a directory containing train.bin, or ${npy}`;
    case 'ninapro':
      return `a NAS-Bench-360 directory with ninapro_train.npy and label_train.npy (and optionally ninapro_val.npy, label_val.npy), ${npy}`;
    default:
      return spec.taskonomy
        ? 'a Taskonomy folder: train_filenames_final5k.json with its view lists, benevolence/image_list_final5k.json, or <building>/rgb/*_domain_rgb.png views (with the task\'s target domain next to rgb)'
        : npy;
  }
}

async function statOrNull(path: string) {
  try {
    return await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

/** Resolves a data path to an opened training set for the task. */
async function openPath(path: string, spec: TaskSpec): Promise<SampleSet> {
  const sampleSize = spec.inputShape.reduce((a, b) => a * b, 1);
  const invalid = () => new InputError('data', path, `a file or directory: ${expectedFiles(spec)}`);
  const cifar = spec.name === 'cifar10' || spec.name === 'cifar100' ? spec.name : null;
  const st = await statOrNull(path);
  if (!st) {
    // "IMAGES.npy,LABELS.npy": an explicit pair (only when no file has that literal name).
    const parts = path.split(',');
    if (parts.length === 2 && parts.every((p) => p.endsWith('.npy'))) {
      const [images, labels] = parts as [string, string];
      for (const p of parts) if (!(await statOrNull(p))?.isFile()) throw new InputError('data', path, `both files of the pair must exist; ${JSON.stringify(p)} does not`);
      return openNpyPair(images, labels, spec);
    }
    throw invalid();
  }
  if (st.isDirectory()) {
    const names = new Set(await fsp.readdir(path));
    if (cifar === 'cifar10') {
      const batches = [...names].filter((n) => /^data_batch_\d+\.bin$/.test(n)).sort(naturalCompare);
      if (batches.length > 0) {
        const parts = await openAll(batches.map((n) => () => openCifarFile(join(path, n), 'cifar10')));
        return concatSampleSets(parts, sampleSize);
      }
    }
    if (spec.name === 'svhn' && names.has('train_32x32.mat')) return openSvhn(join(path, 'train_32x32.mat'));
    const pickles = pickleBatchNames(spec, names);
    if (pickles.length > 0) return openPickleBatches(pickles.map((n) => join(path, n)), spec);
    if (cifar === 'cifar100' && names.has('train.bin')) return openCifarFile(join(path, 'train.bin'), 'cifar100');
    if (names.has('images.npy') && names.has('labels.npy')) return openNpyPair(join(path, 'images.npy'), join(path, 'labels.npy'), spec);
    if (spec.name === 'ninapro' && names.has('ninapro_train.npy') && names.has('label_train.npy')) {
      // NASLib trains on NAS-Bench-360's train and val splits concatenated, in that order.
      const splits = ['train'];
      if (names.has('ninapro_val.npy') || names.has('label_val.npy')) {
        if (!(names.has('ninapro_val.npy') && names.has('label_val.npy'))) {
          throw new InputError('data', path, 'ninapro_val.npy and label_val.npy together (NASLib trains on train + val), or neither');
        }
        splits.push('val');
      }
      const parts = await openAll(splits.map((s) => () => openNpyPair(join(path, `ninapro_${s}.npy`), join(path, `label_${s}.npy`), spec)));
      return concatSampleSets(parts, sampleSize);
    }
    throw new InputError('data', path, `a directory with ${expectedFiles(spec)}`);
  }
  if (!st.isFile()) throw invalid();
  if (path.endsWith('.npy')) {
    const name = basename(path);
    const ninapro = /^ninapro_(\w+)\.npy$/.exec(name);
    const labelsName = name === 'images.npy' ? 'labels.npy' : ninapro ? `label_${ninapro[1]}.npy` : null;
    const labels = labelsName ? join(dirname(path), labelsName) : null;
    if (!labels || !(await statOrNull(labels))?.isFile()) {
      throw new InputError('data', path, `an images .npy with its labels next to it (images.npy → labels.npy, ninapro_<split>.npy → label_<split>.npy), or a pair "IMAGES.npy,LABELS.npy"`);
    }
    return openNpyPair(path, labels, spec);
  }
  if (spec.name === 'svhn' && path.endsWith('.mat')) return openSvhn(path);
  if (cifar) return openCifarFile(path, cifar);
  throw invalid();
}

/**
 * The python-pickle training batches of a directory, in NASLib's order: CIFAR-10's
 * cifar-10-batches-py/data_batch_1..5, CIFAR-100's cifar-100-python/train, ImageNet16's
 * train_data_batch_1..10.
 */
function pickleBatchNames(spec: TaskSpec, names: Set<string>): string[] {
  const pattern = spec.name === 'cifar10' ? /^data_batch_\d+$/ : spec.name === 'cifar100' ? /^train$/ : spec.name === 'ImageNet16-120' ? /^train_data_batch_\d+$/ : null;
  return pattern ? [...names].filter((n) => pattern.test(n)).sort(naturalCompare) : [];
}

async function openPickleBatches(paths: string[], spec: TaskSpec): Promise<SampleSet> {
  const layout = PICKLE_LAYOUTS[spec.name as keyof typeof PICKLE_LAYOUTS];
  const files = await Promise.all(
    paths.map(async (path) => {
      const bytes = await fsp.readFile(path);
      return { used: { path, sha256: createHash('sha256').update(bytes).digest('hex') }, bytes };
    }),
  );
  return pickleBatchSet(files, layout);
}

async function openSvhn(path: string): Promise<SampleSet> {
  const bytes = await fsp.readFile(path);
  return svhnSet({ path, sha256: createHash('sha256').update(bytes).digest('hex') }, bytes);
}
