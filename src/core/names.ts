import { InputError } from '../errors';

/** NASLib's names, exactly as users see them in the released files. */
export const SPACES = ['nasbench101', 'nasbench201', 'nasbench301', 'transbench101_micro', 'transbench101_macro'] as const;
export type SpaceName = (typeof SPACES)[number];

export const TASKS = [
  'cifar10', 'cifar100', 'ImageNet16-120', 'svhn', 'ninapro', 'scifar100',
  'jigsaw', 'class_object', 'class_scene', 'autoencoder', 'normal', 'room_layout', 'segmentsemantic',
] as const;
export type TaskName = (typeof TASKS)[number];

export const PROXIES = [
  'epe_nas', 'fisher', 'flops', 'grad_norm', 'grasp', 'jacov', 'l2_norm', 'nwot', 'params', 'plain', 'snip', 'synflow', 'zen',
] as const;
export type ProxyName = (typeof PROXIES)[number];

/**
 * TensorFlow.js backends, in preference order when none is forced (fastest first). 'hybrid'
 * (kernels/hybrid.ts): cpu-backend tensors with wasm convolutions, for jobs beyond wasm's 4 GiB.
 */
export const BACKENDS = ['node', 'wasm', 'hybrid', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const TASKONOMY_TASKS: readonly TaskName[] = [
  'jigsaw', 'class_object', 'class_scene', 'autoencoder', 'normal', 'room_layout', 'segmentsemantic',
];

/** The paper's 28 (space, task) pairs. */
export const SPACE_TASKS: Record<SpaceName, readonly TaskName[]> = {
  nasbench101: ['cifar10'],
  nasbench201: ['cifar10', 'cifar100', 'ImageNet16-120', 'svhn', 'ninapro', 'scifar100'],
  nasbench301: ['cifar10', 'svhn', 'ninapro', 'scifar100'],
  transbench101_micro: ['svhn', 'ninapro', 'scifar100', ...TASKONOMY_TASKS],
  transbench101_macro: [...TASKONOMY_TASKS],
};

/** Proxies the paper computes for a task: epe_nas is undefined on the Taskonomy tasks. */
export function proxiesForTask(task: TaskName): ProxyName[] {
  return PROXIES.filter((p) => !(p === 'epe_nas' && TASKONOMY_TASKS.includes(task)));
}

/** The paper's batch size: 64, and 32 for the Taskonomy tasks. */
export function defaultBatchSize(task: TaskName): number {
  return TASKONOMY_TASKS.includes(task) ? 32 : 64;
}

export function parseSpace(value: string, field = 'space'): SpaceName {
  if ((SPACES as readonly string[]).includes(value)) return value as SpaceName;
  throw new InputError(field, value, `valid: ${SPACES.join(', ')}`);
}

export function parseTask(value: string, space?: SpaceName, field = 'task'): TaskName {
  const valid = space ? SPACE_TASKS[space] : TASKS;
  if ((valid as readonly string[]).includes(value)) return value as TaskName;
  throw new InputError(field, value, `valid${space ? ` for ${space}` : ''}: ${valid.join(', ')}`);
}

export function parseProxy(value: string, field = 'proxy'): ProxyName {
  if ((PROXIES as readonly string[]).includes(value)) return value as ProxyName;
  throw new InputError(field, value, `valid: ${PROXIES.join(', ')}`);
}

/** `all` or a comma-separated list; duplicates removed, NASLib order kept. */
export function parseProxyList(value: string, task?: TaskName, field = 'proxies'): ProxyName[] {
  if (value === 'all') return task ? proxiesForTask(task) : [...PROXIES];
  const names = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new InputError(field, value, `"all" or a comma-separated list of: ${PROXIES.join(', ')}`);
  const set = new Set(names.map((n) => parseProxy(n, field)));
  return PROXIES.filter((p) => set.has(p));
}
