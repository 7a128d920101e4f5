import { InputError } from '../errors';

/** NASLib's names, exactly as users see them in the released files. */
export const SPACES = ['nasbench101', 'nasbench201', 'nasbench301', 'transbench101_micro', 'transbench101_macro'] as const;
export type SpaceName = (typeof SPACES)[number];

export const TASKS = [
  'cifar10',
  'cifar100',
  'ImageNet16-120',
  'svhn',
  'ninapro',
  'scifar100',
  'jigsaw',
  'class_object',
  'class_scene',
  'autoencoder',
  'normal',
  'room_layout',
  'segmentsemantic',
] as const;
export type TaskName = (typeof TASKS)[number];

/** The paper's 13 proxies: what `all` means, the set datasets, queue payloads and rows carry. */
export const PROXIES = ['epe_nas', 'fisher', 'flops', 'grad_norm', 'grasp', 'jacov', 'l2_norm', 'nwot', 'params', 'plain', 'snip', 'synflow', 'zen'] as const;
export type ProxyName = (typeof PROXIES)[number];

/** AZ-NAS's four parts, each its own column; the combined rank score is computed over a population (proxies/az_nas.ts). */
export const AZ_NAS_PARTS = ['az_nas.expressivity', 'az_nas.progressivity', 'az_nas.trainability', 'az_nas.complexity'] as const;

/** Proxies published since the paper (docs/proxies.md §11): computed by the core when named, not part of `all`. */
export const NEWER_PROXIES = ['meco', 'swap', 'zico', ...AZ_NAS_PARTS] as const;

/** Every proxy the core computes, the paper's first. */
export const BUILT_IN_PROXIES = [...PROXIES, ...NEWER_PROXIES] as const;
export type BuiltInProxyName = (typeof BUILT_IN_PROXIES)[number];

/** AZ-NAS's combined rank score: a dataset-level column the publisher computes from the four parts over a version's population. */
export const AZ_NAS = 'az_nas' as const;

/**
 * Every column a row, a manifest or a dataset may carry: the built-in proxies and `az_nas` (made at
 * publish time, never by a worker). User modules' columns are rows of their own (proxy = module name).
 */
export const COLUMN_PROXIES = [...BUILT_IN_PROXIES, AZ_NAS] as const;
export type ColumnProxyName = (typeof COLUMN_PROXIES)[number];

/** A user module's proxy name: lower-case words and digits joined by `_` (it becomes a dataset column). */
export const MODULE_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** A dataset column: a built-in's (ColumnProxyName) or a user module's name (MODULE_NAME_PATTERN, not a built-in's). */
export type ColumnName = ColumnProxyName | (string & {});

export function isBuiltInColumn(name: string): name is ColumnProxyName {
  return (COLUMN_PROXIES as readonly string[]).includes(name);
}

/**
 * TensorFlow.js backends, in preference order when none is forced (fastest first). 'hybrid'
 * (kernels/hybrid.ts): cpu-backend tensors with wasm convolutions, for jobs beyond wasm's 4 GiB.
 */
export const BACKENDS = ['node', 'wasm', 'hybrid', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const TASKONOMY_TASKS: readonly TaskName[] = ['jigsaw', 'class_object', 'class_scene', 'autoencoder', 'normal', 'room_layout', 'segmentsemantic'];

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

export function parseProxy(value: string, field = 'proxy'): ColumnProxyName {
  if ((COLUMN_PROXIES as readonly string[]).includes(value)) return value as ColumnProxyName;
  throw new InputError(field, value, `valid: ${COLUMN_PROXIES.join(', ')}`);
}

/** `all` (the paper's proxies) or a comma-separated list of dataset columns; duplicates removed, NASLib order kept. */
export function parseProxyList(value: string, task?: TaskName, field = 'proxies'): ColumnProxyName[] {
  return parseNames<ColumnProxyName>(value, task, field, COLUMN_PROXIES, {});
}

/** parseProxyList, also accepting the user module columns given (those a dataset holds), after the built-ins. */
export function parseColumnList(value: string, task: TaskName | undefined, field: string, modules: readonly string[]): ColumnName[] {
  return parseNames<string>(value, task, field, [...COLUMN_PROXIES, ...modules], {});
}

/**
 * What to compute: `all` (still the paper's 13) or a comma-separated list of any built-in proxy,
 * `az_nas` standing for its four parts; NASLib order kept, the newer proxies after the paper's.
 */
export function parseComputeProxyList(value: string, task?: TaskName, field = 'proxies'): BuiltInProxyName[] {
  return parseNames(value, task, field, BUILT_IN_PROXIES, { az_nas: AZ_NAS_PARTS });
}

function parseNames<N extends string>(
  value: string,
  task: TaskName | undefined,
  field: string,
  valid: readonly N[],
  groups: Record<string, readonly N[]>,
): N[] {
  if (value === 'all') return (task ? proxiesForTask(task) : [...PROXIES]) as N[];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const listed = [...valid, ...Object.keys(groups)].join(', ');
  if (names.length === 0) throw new InputError(field, value, `"all" or a comma-separated list of: ${listed}`);
  const set = new Set<string>();
  for (const name of names) {
    const members = groups[name] ?? ((valid as readonly string[]).includes(name) ? [name] : null);
    if (!members) throw new InputError(field, name, `valid: ${listed}`);
    members.forEach((m) => set.add(m));
  }
  return valid.filter((p) => set.has(p));
}
