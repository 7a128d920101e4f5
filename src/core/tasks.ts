import { CLASS_OBJECT_SELECTED, CLASS_OBJECT_STORED, CLASS_SCENE_SELECTED, CLASS_SCENE_STORED } from './data/naslib-tables';
import type { TaskName } from './names';

/** How a task's target looks and which loss the proxies differentiate (docs/tasks.md). */
export type LossKind = 'ce' | 'soft_ce' | 'pixel_ce' | 'l1' | 'mse';

export interface TaskSpec {
  name: TaskName;
  /** Per-sample input, NHWC without the batch axis. jigsaw: one tile (the batch carries 9 tiles per sample). */
  inputShape: [number, number, number];
  /** jigsaw: 9 tiles per sample. */
  tiles?: number;
  /** Classes, or output width for regression heads. */
  outputs: number;
  loss: LossKind;
  /** Per-channel normalisation applied after scaling to [0, 1]; absent: the stored values are used raw. */
  normalize?: { mean: number[]; std: number[] };
  /** NASLib's training augmentation for the ZC batch: random crop with zero padding, horizontal flip. */
  augment?: { pad: number; flip: boolean };
  /** The paper's batch size. */
  batchSize: number;
  /** A Taskonomy task (TransNAS-Bench-101 heads): where its data comes from and which decoder it has. */
  taskonomy?: TaskonomySpec;
}

/**
 * How a Taskonomy view's target is formed (src/core/data/taskonomy.ts has one reader per kind),
 * and the domain and file type it is read from: `{building}/{domain}/point_P_view_V_domain_{domain}.{file}`.
 */
export type TaskonomyTarget =
  /** A stored class distribution, cut to the selected classes and renormalised (load_class_*_logits). */
  | { kind: 'class_distribution'; domain: string; file: 'npy'; stored: number; selected: readonly number[] }
  /** The 9 standardised layout numbers of the view's point_info (load_ops.point_info2room_layout). */
  | { kind: 'room_layout'; domain: 'point_info'; file: 'json' }
  /** A grey label map, resized by nearest neighbour, class per pixel. */
  | { kind: 'label_map'; domain: string; file: 'png' }
  /** An RGB image in [0, 1], resized bilinearly. */
  | { kind: 'image'; domain: string; file: 'png' }
  /** The normalised input itself. */
  | { kind: 'input' }
  /** The index of the permutation the tiles were shuffled by. */
  | { kind: 'permutation' };

/**
 * Everything about one Taskonomy task besides its shapes and loss: its target, its training
 * augmentation (NASLib utils/utils.py get_<task>_configs) and the TNB decoder after the encoder
 * (src/core/spaces/transbench101_micro/taskonomy.ts has one builder per kind).
 */
export interface TaskonomySpec {
  target: TaskonomyTarget;
  /** Horizontal flip p 0.5 (of the label too). */
  flip: boolean;
  /** Colour jitter (0.2, 0.2, 0.2, 0.1). */
  jitter: boolean;
  /** pooled: gap ; fc. tiles: the encoder per tile, concatenated, gap ; fc. segmentation / generative: TNB's decoders. */
  decoder: 'pooled' | 'tiles' | 'segmentation' | 'generative';
}

const CIFAR10_NORM = { mean: [0.49139968, 0.48215827, 0.44653124], std: [0.24703233, 0.24348505, 0.26158768] };
const CIFAR100_NORM = { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] };
const IMAGENET16_NORM = {
  mean: [122.68 / 255, 116.66 / 255, 104.01 / 255],
  std: [63.22 / 255, 61.26 / 255, 65.09 / 255],
};
const SVHN_NORM = { mean: [0.4377, 0.4438, 0.4728], std: [0.198, 0.201, 0.197] };
const TASKONOMY_CLASS_NORM = { mean: [0.5224, 0.5222, 0.5221], std: [0.2234, 0.2235, 0.2236] };
const HALF_NORM = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

export const TASK_SPECS: Record<TaskName, TaskSpec> = {
  cifar10: { name: 'cifar10', inputShape: [32, 32, 3], outputs: 10, loss: 'ce', normalize: CIFAR10_NORM, augment: { pad: 4, flip: true }, batchSize: 64 },
  cifar100: { name: 'cifar100', inputShape: [32, 32, 3], outputs: 100, loss: 'ce', normalize: CIFAR100_NORM, augment: { pad: 4, flip: true }, batchSize: 64 },
  'ImageNet16-120': {
    name: 'ImageNet16-120',
    inputShape: [16, 16, 3],
    outputs: 120,
    loss: 'ce',
    normalize: IMAGENET16_NORM,
    augment: { pad: 2, flip: true },
    batchSize: 64,
  },
  svhn: { name: 'svhn', inputShape: [32, 32, 3], outputs: 10, loss: 'ce', normalize: SVHN_NORM, augment: { pad: 4, flip: true }, batchSize: 64 },
  ninapro: { name: 'ninapro', inputShape: [16, 52, 1], outputs: 18, loss: 'ce', batchSize: 64 },
  scifar100: { name: 'scifar100', inputShape: [60, 60, 3], outputs: 100, loss: 'ce', batchSize: 64 },
  jigsaw: {
    name: 'jigsaw',
    inputShape: [64, 64, 3],
    tiles: 9,
    outputs: 1000,
    loss: 'ce',
    batchSize: 32,
    taskonomy: { target: { kind: 'permutation' }, flip: true, jitter: true, decoder: 'tiles' },
  },
  class_object: {
    name: 'class_object',
    inputShape: [256, 256, 3],
    outputs: 100,
    loss: 'soft_ce',
    normalize: TASKONOMY_CLASS_NORM,
    batchSize: 32,
    taskonomy: {
      target: { kind: 'class_distribution', domain: 'class_object', file: 'npy', stored: CLASS_OBJECT_STORED, selected: CLASS_OBJECT_SELECTED },
      flip: true,
      jitter: true,
      decoder: 'pooled',
    },
  },
  class_scene: {
    name: 'class_scene',
    inputShape: [256, 256, 3],
    outputs: 63,
    loss: 'soft_ce',
    normalize: TASKONOMY_CLASS_NORM,
    batchSize: 32,
    taskonomy: {
      target: { kind: 'class_distribution', domain: 'class_scene', file: 'npy', stored: CLASS_SCENE_STORED, selected: CLASS_SCENE_SELECTED },
      flip: true,
      jitter: true,
      decoder: 'pooled',
    },
  },
  room_layout: {
    name: 'room_layout',
    inputShape: [256, 256, 3],
    outputs: 9,
    loss: 'mse',
    normalize: TASKONOMY_CLASS_NORM,
    batchSize: 32,
    taskonomy: { target: { kind: 'room_layout', domain: 'point_info', file: 'json' }, flip: false, jitter: true, decoder: 'pooled' },
  },
  segmentsemantic: {
    name: 'segmentsemantic',
    inputShape: [256, 256, 3],
    outputs: 17,
    loss: 'pixel_ce',
    normalize: HALF_NORM,
    batchSize: 32,
    taskonomy: { target: { kind: 'label_map', domain: 'segmentsemantic', file: 'png' }, flip: true, jitter: true, decoder: 'segmentation' },
  },
  autoencoder: {
    name: 'autoencoder',
    inputShape: [256, 256, 3],
    outputs: 3,
    loss: 'l1',
    normalize: HALF_NORM,
    batchSize: 32,
    taskonomy: { target: { kind: 'input' }, flip: true, jitter: true, decoder: 'generative' },
  },
  normal: {
    name: 'normal',
    inputShape: [256, 256, 3],
    outputs: 3,
    loss: 'l1',
    normalize: HALF_NORM,
    batchSize: 32,
    taskonomy: { target: { kind: 'image', domain: 'normal', file: 'png' }, flip: false, jitter: false, decoder: 'generative' },
  },
};

export function taskSpec(task: TaskName): TaskSpec {
  return TASK_SPECS[task];
}
