import { createHash } from 'crypto';
import { readFileSync } from 'fs';
import { dirname, extname, resolve } from 'path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  AZ_NAS,
  AZ_NAS_PARTS,
  BUILT_IN_PROXIES,
  PROXIES,
  SPACES,
  SPACE_TASKS,
  TASKS,
  defaultBatchSize,
  proxiesForTask,
  type BuiltInProxyName,
  type SpaceName,
  type TaskName,
} from '../core/names';
import { Rng } from '../core/rng';
import { searchSpace, type SearchSpace } from '../core/spaces';
import type { DataSpec } from '../core/types';
import type { DataManifest } from '../storage/data-sets';
import { FormatError, InputError } from '../errors';
import { BUILD_ID_PATTERN, DataSpecSchema } from '../queue/schema';
import { localFingerprint } from '../version';

/**
 * The build spec: what a build computes. One zod schema; a JSON or YAML file. Everything is
 * validated (architectures parsed, files read) before anything is enqueued.
 */
const ArchFileSchema = z.object({ file: z.string().min(1) }).strict();
const ArchSourceSchema = z.union([
  z.literal('all'),
  ArchFileSchema,
  z
    .object({
      /** How many distinct architectures to draw. */
      sample: z.number().int().positive(),
      seed: z.number().int().nonnegative().default(0),
      /** What to draw from: the whole space (default) or a NASLib archs file. */
      from: z.union([z.literal('all'), ArchFileSchema]).default('all'),
    })
    .strict(),
  z.array(z.string().min(1)).min(1),
]);
export type ArchSource = z.infer<typeof ArchSourceSchema>;

export const BuildSpecSchema = z
  .object({
    dataset: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, "_", "." and "-", starting with a letter or digit'),
    spaces: z.array(z.enum(SPACES)).min(1),
    /** `all`: every task the paper evaluates on each space. */
    tasks: z.union([z.literal('all'), z.array(z.enum(TASKS)).min(1)]),
    /**
     * `all`: the paper's proxies for each task (epe_nas is undefined on Taskonomy tasks); or a list of
     * built-in proxies, `az_nas` standing for its four parts (the combined score is made at publish time).
     */
    proxies: z.union([z.literal('all'), z.array(z.enum([...BUILT_IN_PROXIES, AZ_NAS])).min(1)]),
    /** One source for every space, or one per space. */
    archs: z.union([ArchSourceSchema, z.partialRecord(z.enum(SPACES), ArchSourceSchema)]),
    seeds: z.array(z.number().int().nonnegative()).min(1).default([0]),
    /** The paper's rule (64; 32 on Taskonomy) unless overridden for all tasks or per task. */
    batchSize: z
      .object({
        default: z.number().int().positive().optional(),
        tasks: z.partialRecord(z.enum(TASKS), z.number().int().positive()).optional(),
      })
      .strict()
      .default({}),
    /** A published version of `dataset` whose rows this build keeps; only missing triples are computed. */
    baseVersion: z.string().min(1).optional(),
    /**
     * Which of the base version's rows count as already computed: `same-code` (default) those made
     * by code of this build's compute fingerprint; `any-code` those of any fingerprint (recorded in the manifest).
     */
    reuse: z.enum(['same-code', 'any-code']).default('same-code'),
    /** `{"dataset": NAME}` is short for `{"source": "dataset", "dataset": NAME}` (a `zcbench data add` set). */
    data: z
      .preprocess((v) => (v && typeof v === 'object' && !('source' in v) && 'dataset' in v ? { source: 'dataset', ...v } : v), DataSpecSchema)
      .default({ source: 'synthetic' }),
    /** `arch-task`: one message per (arch, task, seed) carrying its proxies; `triple`: one triple per message. */
    packing: z.enum(['arch-task', 'triple']).default('arch-task'),
    /**
     * User proxy modules (docs/writing-a-proxy.md), paths relative to the spec's folder: each is
     * bundled, stored as `plugins/<sha256>.js` and computed as a column of its own name on every
     * (arch, task, seed), beside `proxies`. Workers run them only with ZC_ALLOW_PROXY_MODULES=1.
     */
    proxyModules: z.array(z.string().min(1)).min(1).optional(),
    /** Fixed build id; default: derived from the spec, so the same spec is the same build. */
    buildId: z.string().regex(BUILD_ID_PATTERN).optional(),
  })
  .strict();

export type BuildSpec = z.infer<typeof BuildSpecSchema>;

/** Architectures of one space, read lazily: `all` of NB201 is never materialised as triples. */
export interface ArchList {
  count: number;
  /** Canonical architecture strings (the space's own format). */
  iterate(): Iterable<string>;
}

export interface PlannedSpace {
  space: SpaceName;
  tasks: TaskName[];
  archs: ArchList;
}

/** A user proxy module of a build: its column, its file as the spec names it, its bundle's sha256. */
export interface PlannedModule {
  name: string;
  file: string;
  sha256: string;
}

/** A validated spec, its inputs resolved: what the producer expands. */
export interface BuildPlan {
  spec: BuildSpec;
  /** The spec file's folder: relative paths (archs files, proxyModules) are from here. */
  baseDir: string;
  /**
   * The spec's proxy modules, bundled and stored (src/producer/modules.ts `withProxyModules`, which
   * also puts their hashes into the build id); undefined until then. The producer refuses a plan
   * whose spec names modules but which has none.
   */
  modules?: PlannedModule[];
  buildId: string;
  /** The compute fingerprint the build's triple ids and jobs carry (src/version.ts). */
  fingerprint: string;
  spaces: PlannedSpace[];
  data: DataSpec;
  /** `data` names a data set: its manifest, read from the store by prepareBuild (src/aggregator/build-store.ts). */
  dataSet?: DataManifest;
  /** Triples before skipping what the base version holds. */
  totalTriples: number;
  /** Messages before skipping. */
  totalMessages: number;
}

/** The built-in proxies a build computes on a task, NASLib order, the newer after the paper's. */
export function proxiesOf(spec: BuildSpec, task: TaskName): BuiltInProxyName[] {
  if (spec.proxies === 'all') return proxiesForTask(task);
  const wanted = new Set<string>(spec.proxies.flatMap((p) => (p === AZ_NAS ? AZ_NAS_PARTS : [p])));
  const undefinedHere = new Set<string>(PROXIES.filter((p) => !(proxiesForTask(task) as string[]).includes(p)));
  return BUILT_IN_PROXIES.filter((p) => wanted.has(p) && !undefinedHere.has(p));
}

export function batchSizeOf(spec: BuildSpec, task: TaskName): number {
  return spec.batchSize.tasks?.[task] ?? spec.batchSize.default ?? defaultBatchSize(task);
}

/** Read a spec file (.json, .yaml or .yml) and resolve it into a plan; relative paths are from the file's folder. */
export function loadBuildPlan(file: string, overrides: { buildId?: string; packing?: BuildSpec['packing'] } = {}): BuildPlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError('--spec', file, `a readable JSON or YAML file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const ext = extname(file).toLowerCase();
  let raw: unknown;
  try {
    raw = ext === '.yaml' || ext === '.yml' ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new FormatError(file, `not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    raw = { ...(raw as object), ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  }
  return planBuild(raw, dirname(resolve(file)));
}

/**
 * Validate a spec object and resolve it into a plan. Every error names the spec field. The
 * fingerprint is this process's (src/version.ts) unless given: workers must compute with the same.
 */
export function planBuild(raw: unknown, baseDir: string, fingerprint: string = localFingerprint().id): BuildPlan {
  const parsed = BuildSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = deepestIssue(parsed.error.issues[0]!, []);
    throw new InputError(`spec ${fieldName(issue.path)}`, valueAt(raw, issue.path), issue.message);
  }
  const spec = parsed.data;
  const hash = createHash('sha256').update(JSON.stringify([fingerprint, canonical(spec)]));
  const spaces: PlannedSpace[] = spec.spaces.map((space, i) => {
    let impl: SearchSpace;
    try {
      impl = searchSpace(space);
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`spec spaces[${i}]`, space, err.expected);
      throw err;
    }
    const tasks: TaskName[] = spec.tasks === 'all' ? [...SPACE_TASKS[space]] : spec.tasks;
    tasks.forEach((task, j) => {
      if (!SPACE_TASKS[space].includes(task)) throw new InputError(`spec tasks[${j}]`, task, `valid for ${space}: ${SPACE_TASKS[space].join(', ')}`);
    });
    const perSpace = isArchSource(spec.archs) ? undefined : spec.archs[space];
    const source = isArchSource(spec.archs) ? spec.archs : perSpace;
    const field = isArchSource(spec.archs) ? 'spec archs' : `spec archs.${space}`;
    if (source === undefined) throw new InputError(field, undefined, 'an architecture source for every space in spaces');
    const archs = resolveArchs(impl, source, field, baseDir, hash);
    return { space, tasks, archs };
  });
  // Until the modules are loaded, one column per listed file (withProxyModules counts again).
  const { totalTriples, totalMessages } = countTriples(spec, spaces, new Set(spec.proxyModules ?? []).size);
  if (totalTriples === 0) throw new InputError('spec proxies', spec.proxies, 'at least one proxy defined on the tasks');
  const buildId = spec.buildId ?? `${spec.dataset}-${hash.digest('hex').slice(0, 12)}`;
  return { spec, baseDir, buildId, fingerprint, spaces, data: spec.data, totalTriples, totalMessages };
}

/** Triples and messages of a plan before skipping, with `modules` module columns on every (arch, task, seed). */
export function countTriples(spec: BuildSpec, spaces: readonly PlannedSpace[], modules: number): { totalTriples: number; totalMessages: number } {
  let totalTriples = 0;
  let totalMessages = 0;
  for (const s of spaces) {
    for (const task of s.tasks) {
      const n = proxiesOf(spec, task).length + modules;
      totalTriples += s.archs.count * spec.seeds.length * n;
      totalMessages += s.archs.count * spec.seeds.length * (spec.packing === 'triple' ? n : n > 0 ? 1 : 0);
    }
  }
  return { totalTriples, totalMessages };
}

function isArchSource(a: BuildSpec['archs']): a is ArchSource {
  return a === 'all' || Array.isArray(a) || 'file' in a || 'sample' in a;
}

function resolveArchs(space: SearchSpace, source: ArchSource, field: string, baseDir: string, hash: ReturnType<typeof createHash>): ArchList {
  if (source === 'all') return enumerated(space, field);
  if (Array.isArray(source)) {
    const archs = source.map((a, i) => space.format(space.parse(a, `${field}[${i}]`)));
    return listOf(unique(archs, field));
  }
  if ('file' in source) return listOf(readArchFile(space, source.file, `${field}.file`, baseDir, hash));
  // A seeded sample without replacement: pick indices, then walk the source once keeping them.
  const from = source.from === 'all' ? enumerated(space, `${field}.from`) : listOf(readArchFile(space, source.from.file, `${field}.from.file`, baseDir, hash));
  if (source.sample > from.count) throw new InputError(`${field}.sample`, source.sample, `at most ${from.count} (the architectures available)`);
  const picked = sampleIndices(from.count, source.sample, new Rng(source.seed).fork('arch-sample'));
  return {
    count: source.sample,
    *iterate() {
      let i = 0;
      for (const arch of from.iterate()) if (picked.has(i++)) yield arch;
    },
  };
}

function enumerated(space: SearchSpace, field: string): ArchList {
  const enumerate = space.enumerate?.bind(space);
  if (!enumerate || space.size === undefined) {
    throw new InputError(field, 'all', `${space.name} cannot be enumerated: give a NASLib archs file, a list, or a sample from a file`);
  }
  return { count: space.size, iterate: () => enumerate() };
}

function listOf(archs: string[]): ArchList {
  return { count: archs.length, iterate: () => archs };
}

/** A NASLib `archs_<space>.json`: {"0": "(…)", "1": …}; every entry parsed now. */
function readArchFile(space: SearchSpace, file: string, field: string, baseDir: string, hash: ReturnType<typeof createHash>): string[] {
  const path = resolve(baseDir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(field, file, `a readable NASLib archs json file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  // The file's content is part of the build's identity: the same spec over a changed file is another build.
  hash.update(createHash('sha256').update(text).digest('hex'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FormatError(path, `not valid JSON: ${(err as Error).message}`);
  }
  const entries: unknown[] = Array.isArray(json) ? json : json && typeof json === 'object' ? Object.values(json) : [];
  if (entries.length === 0) throw new FormatError(path, 'expected a NASLib archs file: a non-empty {"0": "<arch>", …} object or a list');
  const keys = Array.isArray(json) ? entries.map((_, i) => String(i)) : Object.keys(json as object);
  const archs = entries.map((a, i) => {
    if (typeof a !== 'string') throw new FormatError(path, `entry ${JSON.stringify(keys[i])} is not a string`);
    try {
      return space.format(space.parse(a, `${file} entry ${JSON.stringify(keys[i])}`));
    } catch (err) {
      if (err instanceof InputError) throw new FormatError(path, err.message);
      throw err;
    }
  });
  return unique(archs, field);
}

function unique(archs: string[], field: string): string[] {
  const seen = new Set<string>();
  for (const a of archs) {
    if (seen.has(a)) throw new InputError(field, a, 'each architecture once');
    seen.add(a);
  }
  return archs;
}

/** k distinct indices in [0, n): Floyd's algorithm, k draws whatever n is. */
function sampleIndices(n: number, k: number, rng: Rng): Set<number> {
  const picked = new Set<number>();
  for (let j = n - k; j < n; j++) {
    const t = rng.int(j + 1);
    picked.add(picked.has(t) ? j : t);
  }
  return picked;
}

/** Of a union's failed branches, the issue that got furthest into the value: it names the real culprit. */
function deepestIssue(issue: z.core.$ZodIssue, base: PropertyKey[]): { path: PropertyKey[]; message: string } {
  const here = { path: [...base, ...issue.path], message: issue.message };
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return here;
  let best: { path: PropertyKey[]; message: string } | undefined;
  for (const branch of issue.errors) {
    for (const inner of branch) {
      const d = deepestIssue(inner, here.path);
      if (!best || d.path.length > best.path.length) best = d;
    }
  }
  return best ?? here;
}

function fieldName(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(root)';
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** JSON with sorted object keys: the same spec always hashes the same. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}
