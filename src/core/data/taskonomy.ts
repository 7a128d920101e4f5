import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { join } from 'path';
import { PNG } from 'pngjs';
import { FormatError, InputError } from '../../errors';
import type { TaskName } from '../names';
import type { Rng } from '../rng';
import { TASK_SPECS, type TaskonomySpec, type TaskonomyTarget, type TaskSpec } from '../tasks';
import type { Minibatch, Target } from '../types';
import { naturalCompare, sourceDigest, type UsedFile } from './files';
import { JIGSAW_PERMUTATIONS } from './naslib-tables';
import { decodeNpyValues, parseNpyHeader } from './npy';
import * as pil from './pil';
import { roomLayoutTarget } from './room-layout';
import { applyTrainingTransform, BYTE_TO_UNIT, trainSplit } from './transform';

/**
 * Taskonomy inputs as NASLib's TaskonomyDataset reads them (docs/tasks.md §2): views named by
 * templates such as `benevolence/{domain}/point_42_view_3_domain_{domain}`, the RGB input in
 * domain `rgb` (.png) and the task's target in its own domain. Which views form the training
 * set, in order (the first 70 % of it is what the ZC batch is drawn from):
 *   1. `train_filenames_final5k.json` in the folder: NASLib's split file, whose `filename_list`
 *      names per-building view lists (e.g. `benevolence/image_list_final5k.json`);
 *   2. else `benevolence/image_list_final5k.json` (NASLib's training building);
 *   3. else every `<building>/rgb/*_domain_rgb.png` (or `rgb/*` when the folder is one
 *      building), buildings and views in natural name order.
 */

/** A Taskonomy task's descriptor (src/core/tasks.ts: target, augmentation, decoder). */
function taskonomyOf(task: TaskName): TaskonomySpec {
  const t = TASK_SPECS[task].taskonomy;
  if (!t) throw new InputError('task', task, 'a Taskonomy task');
  return t;
}

/** Jigsaw: input resized to 255², 3×3 grid of 85² cells, a random 64² tile from each. */
const JIGSAW_SIDE = 255;
const JIGSAW_CELL = Math.trunc(JIGSAW_SIDE / 3);
const JIGSAW_TILE = 64;
const JIGSAW_GRAYSCALE_P = 0.3;
const JIGSAW_CENTRE_CROP = 0.9;

export interface TaskonomyViews {
  root: string;
  templates: string[];
  /** View list files read (part of the digest). */
  lists: UsedFile[];
}

/** torchvision ColorJitter(0.2, 0.2, 0.2, 0.1).get_params: op order, then the four factors. */
export interface JitterDraw {
  /** 0 brightness, 1 contrast, 2 saturation, 3 hue. */
  order: number[];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

export interface TaskonomyDraw {
  flip: boolean;
  jitter: JitterDraw | null;
  /** jigsaw only: */
  grayscale: boolean;
  permutation: number;
  /** jigsaw: (row, column) offset of each of the 9 tiles inside its grid cell, 0..21. */
  tileOffsets: Array<[number, number]>;
}

export interface TaskonomyPlan {
  indices: number[];
  draws: TaskonomyDraw[];
}

/** Everything random about a Taskonomy minibatch: samples (stream 'sample'), transforms (stream 'augment'). */
export function planTaskonomy(task: TaskName, count: number, batchSize: number, rng: Rng): TaskonomyPlan {
  const order = Array.from({ length: trainSplit(count) }, (_, i) => i);
  const indices = rng.fork('sample').shuffle(order).slice(0, batchSize);
  const a = rng.fork('augment');
  const { target, flip: flips, jitter: jitters } = taskonomyOf(task);
  const jigsaw = target.kind === 'permutation';
  const draws = indices.map((): TaskonomyDraw => {
    const permutation = jigsaw ? a.int(JIGSAW_PERMUTATIONS.length) : 0;
    const flip = flips && a.float() < 0.5;
    const jitter = jitters
      ? {
          order: a.shuffle([0, 1, 2, 3]),
          brightness: 0.8 + 0.4 * a.float(),
          contrast: 0.8 + 0.4 * a.float(),
          saturation: 0.8 + 0.4 * a.float(),
          hue: -0.1 + 0.2 * a.float(),
        }
      : null;
    const grayscale = jigsaw && a.float() < JIGSAW_GRAYSCALE_P;
    const span = JIGSAW_CELL - JIGSAW_TILE + 1;
    const tileOffsets: Array<[number, number]> = jigsaw ? Array.from({ length: 9 }, () => [a.int(span), a.int(span)]) : [];
    return { flip, jitter, grayscale, permutation, tileOffsets };
  });
  return { indices, draws };
}

async function exists(path: string, kind: 'file' | 'dir'): Promise<boolean> {
  try {
    const st = await fsp.stat(path);
    return kind === 'file' ? st.isFile() : st.isDirectory();
  } catch {
    return false;
  }
}

async function readJson(file: string): Promise<{ value: unknown; used: UsedFile }> {
  const bytes = await fsp.readFile(file);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FormatError(file, `not valid json (${(err as Error).message})`);
  }
  return { value, used: { path: file, sha256: createHash('sha256').update(bytes).digest('hex') } };
}

/** NASLib strips a trailing .png/.npy from listed views. */
function templateOf(entry: string): string {
  return /\.(png|npy)$/.test(entry) ? entry.replace(/\.(png|npy)$/, '') : entry;
}

async function readViewList(root: string, rel: string, lists: UsedFile[]): Promise<string[]> {
  const file = join(root, rel);
  if (!(await exists(file, 'file'))) throw new FormatError(file, 'view list is missing');
  const { value, used } = await readJson(file);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.includes('{domain}'))) {
    throw new FormatError(file, 'expected a json list of view templates such as "benevolence/{domain}/point_0_view_0_domain_{domain}.png"');
  }
  lists.push(used);
  return value.map(templateOf);
}

/** Finds the training views of a Taskonomy folder, or null when the folder is not one. */
export async function findTaskonomyViews(root: string): Promise<TaskonomyViews | null> {
  const lists: UsedFile[] = [];
  const split = join(root, 'train_filenames_final5k.json');
  if (await exists(split, 'file')) {
    const { value, used } = await readJson(split);
    const names = (value as { filename_list?: unknown } | null)?.filename_list;
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      throw new FormatError(split, `field filename_list is ${JSON.stringify(names)}, expected a list of view list paths`);
    }
    lists.push(used);
    const templates: string[] = [];
    for (const rel of names as string[]) templates.push(...(await readViewList(root, rel, lists)));
    return { root, templates, lists };
  }
  if (await exists(join(root, 'benevolence', 'image_list_final5k.json'), 'file')) {
    return { root, templates: await readViewList(root, join('benevolence', 'image_list_final5k.json'), lists), lists };
  }
  const buildings = (await exists(join(root, 'rgb'), 'dir')) ? [''] : (await fsp.readdir(root)).sort(naturalCompare);
  const templates: string[] = [];
  for (const b of buildings) {
    const rgbDir = join(root, b, 'rgb');
    if (!(await exists(rgbDir, 'dir'))) continue;
    for (const name of (await fsp.readdir(rgbDir)).sort(naturalCompare)) {
      const m = /^(.+)_domain_rgb\.png$/.exec(name);
      if (m) templates.push(`${b ? `${b}/` : ''}{domain}/${m[1]}_domain_{domain}`);
    }
  }
  return templates.length > 0 ? { root, templates, lists } : null;
}

// --- reading one view ---------------------------------------------------------------------

interface ReadFile {
  bytes: Buffer;
  used: UsedFile;
}

async function readViewFile(file: string, list: string): Promise<ReadFile> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FormatError(file, `missing: the view is listed in ${list} but this file does not exist`);
    throw err;
  }
  return { bytes, used: { path: file, sha256: createHash('sha256').update(bytes).digest('hex') } };
}

function decodePng(file: string, bytes: Buffer, skipRescale = false) {
  try {
    return PNG.sync.read(bytes, { skipRescale });
  } catch (err) {
    throw new FormatError(file, `not a readable PNG (${(err as Error).message})`);
  }
}

/** An 8-bit RGB PNG (what skimage.io.imread hands NASLib as an H×W×3 uint8 array). */
function readRgbPng(file: string, bytes: Buffer): pil.Image8 {
  const png = decodePng(file, bytes);
  if (png.colorType !== 2 || png.depth !== 8) {
    throw new FormatError(file, `expected an 8-bit RGB PNG (colour type 2), got colour type ${png.colorType} with bit depth ${png.depth}`);
  }
  const img = pil.newImage(png.width, png.height, 3);
  for (let p = 0; p < png.width * png.height; p++) {
    img.data[3 * p] = png.data[4 * p]!;
    img.data[3 * p + 1] = png.data[4 * p + 1]!;
    img.data[3 * p + 2] = png.data[4 * p + 2]!;
  }
  return img;
}

/** segmentsemantic label map: grey PNG, NASLib maps 0 → 1 then subtracts 1, so classes 0..16. */
function readSegmentPng(file: string, bytes: Buffer, classes: number): pil.Image8 {
  const png = decodePng(file, bytes, true);
  if (png.colorType !== 0) throw new FormatError(file, `expected a greyscale PNG label map (colour type 0), got colour type ${png.colorType}`);
  const img = pil.newImage(png.width, png.height, 1);
  const data = png.data as unknown as ArrayLike<number>;
  for (let p = 0; p < png.width * png.height; p++) {
    const v = data[4 * p]!;
    if (v > classes) {
      throw new FormatError(
        file,
        `pixel (${Math.floor(p / png.width)}, ${p % png.width}) has label ${v}, outside 0..${classes} (NASLib maps 0 and 1 to class 0, so ${classes + 1} values give ${classes} classes)`,
      );
    }
    img.data[p] = v === 0 ? 0 : v - 1;
  }
  return img;
}

/** Stored class distribution → the selected classes, renormalised to sum 1 (load_class_*_logits). */
function readClassVector(file: string, bytes: Buffer, stored: number, selected: readonly number[]): Float64Array {
  const h = parseNpyHeader(file, bytes);
  if ('needBytes' in h) throw new FormatError(file, `truncated npy header: it needs ${h.needBytes} bytes, the file has ${bytes.length}`);
  if (h.shape.length !== 1 || h.shape[0] !== stored) throw new FormatError(file, `class vector shape is (${h.shape.join(', ')}), expected (${stored},)`);
  if (h.dtype.kind !== 'f') throw new FormatError(file, `class vector dtype ${h.dtype.descr} is not a float type`);
  if (bytes.length - h.dataOffset !== stored * h.dtype.size)
    throw new FormatError(file, `npy data is ${bytes.length - h.dataOffset} bytes, but shape (${stored},) of ${h.dtype.descr} needs ${stored * h.dtype.size}`);
  const all = new Float64Array(stored);
  decodeNpyValues(bytes.subarray(h.dataOffset), h.dtype, stored, all);
  const kept = Float64Array.from(selected, (i) => all[i]!);
  const sum = kept.reduce((s, v) => s + v, 0);
  if (!(sum > 0) || kept.some((v) => !(v >= 0)))
    throw new FormatError(file, `class vector is not a distribution over the selected classes (their sum is ${sum})`);
  return kept.map((v) => v / sum);
}

function applyJitter(img: pil.Image8, j: JitterDraw): pil.Image8 {
  let out = img;
  for (const op of j.order) {
    if (op === 0) out = pil.adjustBrightness(out, j.brightness);
    else if (op === 1) out = pil.adjustContrast(out, j.contrast);
    else if (op === 2) out = pil.adjustSaturation(out, j.saturation);
    else out = pil.adjustHue(out, j.hue);
  }
  return out;
}

/** Python's round() (half to even), which PIL's crop applies to a fractional box. */
function pyRound(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The jigsaw puzzle of one view (load_ops.MakeJigsawPuzzle, centercrop 0.9, no tile
 * normalisation): bytes of 9 tiles, 64×64×3 each, tile n cut from grid cell perm[n].
 */
export function jigsawTiles(img: pil.Image8, draw: TaskonomyDraw): Uint8Array {
  const size = img.width;
  // torchvision center_crop with a fractional size, then PIL's rounding of the crop box.
  const cropSize = size * JIGSAW_CENTRE_CROP;
  const top = pyRound((size - cropSize) / 2);
  const end = pyRound(top + cropSize);
  const centred = pil.resizeBilinear(pil.crop(img, top, top, end - top, end - top), size, size);
  const perm = JIGSAW_PERMUTATIONS[draw.permutation]!;
  const tileBytes = JIGSAW_TILE * JIGSAW_TILE * 3;
  const out = new Uint8Array(9 * tileBytes);
  for (let n = 0; n < 9; n++) {
    const cell = perm[n]!;
    const [di, dj] = draw.tileOffsets[n]!;
    const tile = pil.crop(centred, (cell % 3) * JIGSAW_CELL + dj, Math.floor(cell / 3) * JIGSAW_CELL + di, JIGSAW_TILE, JIGSAW_TILE);
    out.set(tile.data, n * tileBytes);
  }
  return out;
}

/** One view through NASLib's training transform: input bytes (HWC) and the raw target. */
export interface ViewSample {
  input: Uint8Array;
  target?: Float64Array | Uint8Array;
}

/** A view's target before the transform: a label image (segmentsemantic, normal) or numbers. */
export type ViewLabel = { image: pil.Image8 } | { values: ArrayLike<number> } | null;

export function transformView(task: TaskName, rgb: pil.Image8, label: ViewLabel, draw: TaskonomyDraw): ViewSample {
  const [H, W] = TASK_SPECS[task].inputShape;
  const { target } = taskonomyOf(task);
  if (target.kind === 'permutation') {
    let img = pil.resizeBilinear(rgb, JIGSAW_SIDE, JIGSAW_SIDE);
    if (draw.flip) img = pil.hflip(img);
    if (draw.jitter) img = applyJitter(img, draw.jitter);
    if (draw.grayscale) img = pil.grayToRgb(pil.toGray(img));
    return { input: jigsawTiles(img, draw) };
  }
  let img = pil.resizeBilinear(rgb, W, H);
  let labelImg = label && 'image' in label ? label.image : null;
  if (labelImg) labelImg = target.kind === 'label_map' ? pil.resizeNearest(labelImg, W, H) : pil.resizeBilinear(labelImg, W, H);
  if (draw.flip) {
    img = pil.hflip(img);
    if (labelImg) labelImg = pil.hflip(labelImg);
  }
  if (draw.jitter) img = applyJitter(img, draw.jitter);
  if (labelImg) return { input: img.data, target: labelImg.data };
  if (label && 'values' in label) return { input: img.data, target: Float64Array.from(label.values) };
  return { input: img.data };
}

/** The raw target of one view, read from its own file as its descriptor says (null: none is read). */
async function readViewLabel(
  target: TaskonomyTarget,
  classes: number,
  fileOf: (domain: string, ext: string) => string,
  listName: string,
  used: UsedFile[],
): Promise<ViewLabel> {
  if (!('domain' in target)) return null;
  const f = await readViewFile(fileOf(target.domain, target.file), listName);
  used.push(f.used);
  switch (target.kind) {
    case 'class_distribution':
      return { values: readClassVector(f.used.path, f.bytes, target.stored, target.selected) };
    case 'room_layout': {
      let info: unknown;
      try {
        info = JSON.parse(f.bytes.toString('utf8'));
      } catch (err) {
        throw new FormatError(f.used.path, `not valid json (${(err as Error).message})`);
      }
      return { values: roomLayoutTarget(f.used.path, info) };
    }
    case 'label_map':
      return { image: readSegmentPng(f.used.path, f.bytes, classes) };
    case 'image':
      return { image: readRgbPng(f.used.path, f.bytes) };
  }
}

/** A batch's targets, gathered view by view, then made one Target. */
interface TargetCollector {
  add(n: number, sample: ViewSample): void;
  done(inputs: Float32Array, plan: TaskonomyPlan): Target;
}

/** The collector of a kind of target. */
function targetCollector(target: TaskonomyTarget, batchSize: number, spec: TaskSpec): TargetCollector {
  const [H, W, C] = spec.inputShape;
  const K = spec.outputs;
  switch (target.kind) {
    case 'class_distribution': {
      const probs = new Float32Array(batchSize * K);
      return { add: (n, s) => probs.set(s.target as Float64Array, n * K), done: () => ({ kind: 'soft', probs, classes: K }) };
    }
    case 'room_layout': {
      const values = new Float32Array(batchSize * K);
      return { add: (n, s) => values.set(s.target as Float64Array, n * K), done: () => ({ kind: 'dense', values, shape: [batchSize, K] }) };
    }
    case 'image': {
      const size = H * W * 3;
      const values = new Float32Array(batchSize * size);
      const add = (n: number, s: ViewSample) => {
        for (let i = 0; i < size; i++) values[n * size + i] = BYTE_TO_UNIT[s.target![i]!]!;
      };
      return { add, done: () => ({ kind: 'dense', values, shape: [batchSize, H, W, 3] }) };
    }
    case 'label_map': {
      const labels = new Int32Array(batchSize * H * W);
      return { add: (n, s) => labels.set(s.target as Uint8Array, n * H * W), done: () => ({ kind: 'pixel_class', labels, shape: [batchSize, H, W] }) };
    }
    case 'input':
      return { add: () => {}, done: (inputs) => ({ kind: 'dense', values: inputs.slice(), shape: [batchSize, H, W, C] }) };
    case 'permutation':
      return { add: () => {}, done: (_inputs, plan) => ({ kind: 'class', labels: Int32Array.from(plan.draws, (d) => d.permutation) }) };
  }
}

/** Loads one Taskonomy minibatch (see the module comment for the folder layout). */
export async function loadTaskonomyMinibatch(path: string, task: TaskName, batchSize: number, rng: Rng, views: TaskonomyViews): Promise<Minibatch> {
  const spec: TaskSpec = TASK_SPECS[task];
  const { target } = taskonomyOf(task);
  const count = views.templates.length;
  const split = trainSplit(count);
  if (batchSize > split) {
    throw new InputError('batchSize', batchSize, `at most ${split}: the batch comes from the first 70 % of the ${count} training views in ${path}`);
  }
  const plan = planTaskonomy(task, count, batchSize, rng);
  const listName = views.lists.length > 0 ? views.lists[views.lists.length - 1]!.path : path;
  const [H, W, C] = spec.inputShape;
  const tiles = spec.tiles ?? 1;
  const perSample = tiles * H * W * C;
  const raw = new Float32Array(batchSize * perSample);
  const used: UsedFile[] = [...views.lists];
  const targets = targetCollector(target, batchSize, spec);
  for (let n = 0; n < batchSize; n++) {
    const template = views.templates[plan.indices[n]!]!;
    const fileOf = (domain: string, ext: string) => join(views.root, `${template.split('{domain}').join(domain)}.${ext}`);
    const rgbFile = await readViewFile(fileOf('rgb', 'png'), listName);
    used.push(rgbFile.used);
    const rgb = readRgbPng(rgbFile.used.path, rgbFile.bytes);
    const label = await readViewLabel(target, spec.outputs, fileOf, listName, used);
    const sample = transformView(task, rgb, label, plan.draws[n]!);
    for (let i = 0; i < perSample; i++) raw[n * perSample + i] = BYTE_TO_UNIT[sample.input[i]!]!;
    targets.add(n, sample);
  }
  const inputShape = spec.tiles ? [batchSize, spec.tiles, H, W, C] : [batchSize, H, W, C];
  // Normalisation per channel (jigsaw has none: its tiles stay in [0, 1]).
  const inputs = applyTrainingTransform(raw, [batchSize * tiles, H, W, C], spec, null);
  return { inputs, inputShape, target: targets.done(inputs, plan), source: path, sha256: sourceDigest(used), files: used };
}
