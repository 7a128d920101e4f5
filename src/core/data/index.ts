import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { basename } from 'path';
import { InputError, IntegrityError } from '../../errors';
import type { TaskName } from '../names';
import type { Rng } from '../rng';
import { TASK_SPECS, type TaskSpec } from '../tasks';
import type { DataSpec, Minibatch, MinibatchObjectSpec } from '../types';
import { sourceDigest } from './files';
import { decodeMinibatch } from './minibatch-object';
import { DATA_FORMATS } from './formats';
import type { SampleSet } from './sample-set';
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
  if (spec.source === 'dataset')
    throw new InputError('data', spec.dataset, 'a data set the producer resolves to its minibatch objects (not computed directly)');
  if (spec.source === 'path') {
    if (typeof spec.path !== 'string' || spec.path.length === 0)
      throw new InputError('data', spec.path, `a file or directory: ${expectedFiles(TASK_SPECS[task])}`);
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
  if (spec.source === 'dataset' || spec.source === 'minibatch')
    throw new InputError('data', spec.dataset, 'a data set is identified by its manifest (src/storage/data-sets.ts)');
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

/** What a file source for the task may look like (the "expected" part of the errors), from the formats that serve it. */
function expectedFiles(spec: TaskSpec): string {
  if (spec.taskonomy) {
    return "a Taskonomy folder: train_filenames_final5k.json with its view lists, benevolence/image_list_final5k.json, or <building>/rgb/*_domain_rgb.png views (with the task's target domain next to rgb)";
  }
  const each = DATA_FORMATS.map((f) => f.expects(spec)).filter((e): e is string => e !== null);
  return each.length > 1 ? `${each.slice(0, -1).join(', ')}, or ${each[each.length - 1]}` : each.join('');
}

async function statOrNull(path: string) {
  try {
    return await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

/** Resolves a data path to an opened training set for the task: the first format that recognises it. */
async function openPath(path: string, spec: TaskSpec): Promise<SampleSet> {
  const stat = await statOrNull(path);
  if (stat && !stat.isFile() && !stat.isDirectory()) throw new InputError('data', path, `a file or directory: ${expectedFiles(spec)}`);
  const names = stat?.isDirectory() ? new Set(await fsp.readdir(path)) : null;
  for (const format of DATA_FORMATS) {
    const set = await format.open({ path, stat, names }, spec);
    if (set) return set;
  }
  throw new InputError('data', path, names ? `a directory with ${expectedFiles(spec)}` : `a file or directory: ${expectedFiles(spec)}`);
}
