import { basename } from 'path';
import { COLUMN_PROXIES, MODULE_NAME_PATTERN, SPACES, SPACE_TASKS, type ColumnName, type SpaceName, type TaskName } from '../core/names';
import { FormatError, InputError } from '../errors';
import type { GroundTruthRow, ResultRow } from './rows';
import { cellKey, seedStatistics } from './cells';

/**
 * NASLib's zc_<space>.json files, as released with NAS-Bench-Suite-Zero:
 *   { task: { arch: { "idx": str, "arch": str, <proxy>: {"score": float, "time": float}, ..., "val_accuracy": float } } }
 * and the early NB101 variant: { "nasbench101": { task: { arch: { <proxy>: float, ..., "val_accuracy": float } } } }.
 * Python's json module writes NaN, Infinity and -Infinity as bare tokens; both directions keep them.
 */

/** A cell's per-seed values (written as extra fields NASLib's loader ignores). */
export interface SeedScores {
  seeds: number[];
  scores: number[];
  /** Sample standard deviation (n − 1) of `scores`. */
  std: number;
}

/** One architecture's entry of one task. */
export interface NaslibEntry {
  task: TaskName;
  arch: string;
  idx?: string;
  /**
   * time null: the file gave a bare float (no timing). `seeds`: the cell was computed under several
   * seeds; `score` and `time` are then their means.
   */
  proxies: { proxy: ColumnName; score: number; time: number | null; seeds?: SeedScores }[];
  valAccuracy?: number;
}

export interface NaslibFile {
  space: SpaceName;
  /** How the space was determined (for messages). */
  spaceFrom: 'option' | 'file name' | 'content';
  entries: NaslibEntry[];
}

const MARK = '\u0000zcbench-nonfinite:';
const NONFINITE: Record<string, number> = {
  NaN: NaN,
  Infinity: Infinity,
  '-Infinity': -Infinity,
  inf: Infinity,
  '-inf': -Infinity,
  nan: NaN,
};

/** JSON.parse that also accepts the NaN / Infinity / -Infinity (and inf / nan) tokens Python writes. */
export function parsePythonJson(text: string, file: string): unknown {
  const parts: string[] = [];
  let last = 0;
  let replaced = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string, honouring escapes.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
      continue;
    }
    // N, I, i, n or a minus followed by I / i can only start one of the non-finite tokens.
    if (c === 0x4e || c === 0x49 || c === 0x69 || c === 0x6e || (c === 0x2d && /[Ii]/.test(text[i + 1] ?? ''))) {
      const m = /^(-?Infinity|NaN|-?inf|nan)(?![A-Za-z0-9_])/.exec(text.slice(i, i + 10));
      if (!m) continue;
      parts.push(text.slice(last, i), JSON.stringify(MARK + m[1]));
      i += m[1]!.length - 1;
      last = i + 1;
      replaced = true;
    }
  }
  parts.push(text.slice(last));
  try {
    if (!replaced) return JSON.parse(text);
    return JSON.parse(parts.join(''), (_k, v: unknown) => (typeof v === 'string' && v.startsWith(MARK) ? NONFINITE[v.slice(MARK.length)] : v));
  } catch (err) {
    throw new FormatError(file, `not JSON: ${(err as Error).message}`);
  }
}

/** A number as Python's json.dumps writes it (non-finite values as its bare tokens). */
export function pythonJsonNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return JSON.stringify(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const PROXY_SET = new Set<string>(COLUMN_PROXIES);
const TASK_OF_SPACE = new Map<SpaceName, Set<string>>(SPACES.map((s) => [s, new Set<string>(SPACE_TASKS[s])]));

function spaceFromFileName(file: string): SpaceName | undefined {
  const name = basename(file);
  const hits = SPACES.filter((s) => new RegExp(`(^|[^a-z0-9])${s}([^a-z0-9]|$)`).test(name));
  return hits.length === 1 ? hits[0] : undefined;
}

/** The space a file's architecture keys and tasks belong to, when that is unambiguous. */
function spaceFromContent(tasks: string[], archs: string[], file: string): SpaceName {
  const a = archs[0] ?? '';
  const ints = /^\(\s*(\d+(\s*,\s*\d+)*)\s*\)$/
    .exec(a)?.[1]
    ?.split(',')
    .map((x) => Number(x.trim()));
  let candidates: SpaceName[];
  if (/^[[(]\s*[[(]\s*\(/.test(a)) candidates = ['nasbench301'];
  else if (ints && ints.length === 56) candidates = ['nasbench101'];
  else if (ints && ints.length === 6) candidates = ['nasbench201', 'transbench101_micro'];
  else if (ints && ints.length >= 4 && ints.length <= 6) candidates = ['transbench101_macro'];
  else candidates = [];
  candidates = candidates.filter((s) => tasks.every((t) => TASK_OF_SPACE.get(s)!.has(t)));
  if (candidates.length === 1) return candidates[0]!;
  throw new InputError(
    '--space',
    undefined,
    `cannot tell the search space of ${basename(file)} from its name or content; give --space (valid: ${SPACES.join(', ')})`,
  );
}

function num(v: unknown, file: string, path: string): number {
  if (typeof v === 'number') return v;
  throw new FormatError(file, `${path}: expected a number, got ${JSON.stringify(v)}`);
}

/**
 * Read a NASLib zc_<space>.json text into entries; anything not in that layout is a FormatError.
 * `moduleColumns`: the file is one zcbench published (its hash checked against a manifest or a pull
 * record), so a key of a user module's name (MODULE_NAME_PATTERN) is a column too; otherwise an
 * unknown key is an error (a typo must not become a column).
 */
export function parseNaslibJson(text: string, file: string, space?: SpaceName, opts: { moduleColumns?: boolean } = {}): NaslibFile {
  const root = parsePythonJson(text, file);
  const what = 'not a NASLib zc_<space>.json';
  if (!isRecord(root)) throw new FormatError(file, `${what}: the top level is not an object`);
  let byTask: Record<string, unknown> = root;
  let nestedSpace: SpaceName | undefined;
  const topKeys = Object.keys(root);
  if (topKeys.length === 0) throw new FormatError(file, `${what}: it is empty`);
  if (topKeys.length === 1 && (SPACES as readonly string[]).includes(topKeys[0]!)) {
    nestedSpace = topKeys[0] as SpaceName;
    const inner = root[nestedSpace];
    if (!isRecord(inner)) throw new FormatError(file, `${what}: "${nestedSpace}" is not an object of tasks`);
    byTask = inner;
  }
  const tasks = Object.keys(byTask);
  for (const t of tasks) {
    if (!isRecord(byTask[t])) throw new FormatError(file, `${what}: "${t}" is not an object of architectures`);
  }
  const firstArchs = tasks.flatMap((t) => Object.keys(byTask[t] as object).slice(0, 1));

  let resolved: SpaceName;
  let spaceFrom: NaslibFile['spaceFrom'];
  const named = spaceFromFileName(file);
  if (space) {
    resolved = space;
    spaceFrom = 'option';
  } else if (nestedSpace) {
    resolved = nestedSpace;
    spaceFrom = 'content';
  } else if (named) {
    resolved = named;
    spaceFrom = 'file name';
  } else {
    resolved = spaceFromContent(tasks, firstArchs, file);
    spaceFrom = 'content';
  }
  if (nestedSpace && nestedSpace !== resolved) {
    throw new FormatError(file, `the file holds ${nestedSpace} but ${resolved} was ${spaceFrom === 'option' ? 'given' : 'expected'}`);
  }
  const validTasks = TASK_OF_SPACE.get(resolved)!;
  const entries: NaslibEntry[] = [];
  for (const task of tasks) {
    if (!validTasks.has(task)) {
      throw new FormatError(file, `${what}: "${task}" is not a task of ${resolved} (valid: ${[...validTasks].join(', ')})`);
    }
    const archs = byTask[task] as Record<string, unknown>;
    for (const [arch, rec] of Object.entries(archs)) {
      const path = `${task}.${arch}`;
      if (!isRecord(rec)) throw new FormatError(file, `${what}: ${path} is not an object of proxies`);
      const entry: NaslibEntry = { task: task as TaskName, arch, proxies: [] };
      for (const [key, value] of Object.entries(rec)) {
        if (key === 'idx') {
          if (typeof value !== 'string' && typeof value !== 'number') throw new FormatError(file, `${path}.idx: expected a string`);
          entry.idx = String(value);
        } else if (key === 'arch') {
          if (value !== arch) throw new FormatError(file, `${path}.arch: ${JSON.stringify(value)} differs from its key`);
        } else if (key === 'val_accuracy') {
          entry.valAccuracy = num(value, file, `${path}.val_accuracy`);
        } else if (PROXY_SET.has(key) || (opts.moduleColumns && MODULE_NAME_PATTERN.test(key))) {
          if (typeof value === 'number') {
            entry.proxies.push({ proxy: key as ColumnName, score: value, time: null });
          } else if (isRecord(value) && 'score' in value) {
            const score = num(value.score, file, `${path}.${key}.score`);
            const time = value.time === undefined ? null : num(value.time, file, `${path}.${key}.time`);
            entry.proxies.push({ proxy: key as ColumnName, score, time });
          } else {
            throw new FormatError(file, `${path}.${key}: expected a number or {"score", "time"}, got ${JSON.stringify(value)}`);
          }
        } else {
          throw new FormatError(file, `${what}: ${path} has an unknown key "${key}" (proxies: ${COLUMN_PROXIES.join(', ')}; also idx, arch, val_accuracy)`);
        }
      }
      entries.push(entry);
    }
  }
  if (entries.length === 0) throw new FormatError(file, `${what}: no architecture entries`);
  return { space: resolved, spaceFrom, entries };
}

export interface ImportedRows {
  rows: ResultRow[];
  groundTruth: GroundTruthRow[];
  /** Entries per (task, proxy): the import's coverage denominators. */
  expected: { space: SpaceName; task: TaskName; proxy: ColumnName; count: number }[];
}

/** The fingerprint of imported rows: NASLib's code made them. */
export const IMPORTED_FINGERPRINT = 'naslib';

/**
 * Imported entries as rows: backend 'imported', dataSource the origin file's name, seed and batch
 * size 0 (the released files do not record them), fingerprint 'naslib' (the key's data identity too).
 */
export function importedRows(
  parsed: NaslibFile,
  origin: { file: string; sha256: string },
  tripleIdOf: (key: { space: SpaceName; task: TaskName; arch: string; proxy: ColumnName; seed: number; batchSize: number; fingerprint: string }) => string,
): ImportedRows {
  const rows: ResultRow[] = [];
  const groundTruth: GroundTruthRow[] = [];
  const counts = new Map<string, { task: TaskName; proxy: ColumnName; count: number }>();
  const source = basename(origin.file);
  for (const e of parsed.entries) {
    for (const p of e.proxies) {
      const row: ResultRow = {
        tripleId: tripleIdOf({ space: parsed.space, task: e.task, arch: e.arch, proxy: p.proxy, seed: 0, batchSize: 0, fingerprint: IMPORTED_FINGERPRINT }),
        space: parsed.space,
        task: e.task,
        arch: e.arch,
        proxy: p.proxy,
        seed: 0,
        batchSize: 0,
        status: 'ok',
        score: p.score,
        time: p.time,
        backend: 'imported',
        dataSource: source,
        dataSha256: origin.sha256,
        fingerprint: IMPORTED_FINGERPRINT,
      };
      if (e.idx !== undefined) row.archIdx = e.idx;
      rows.push(row);
      const k = `${e.task}/${p.proxy}`;
      const c = counts.get(k);
      if (c) c.count++;
      else counts.set(k, { task: e.task, proxy: p.proxy, count: 1 });
    }
    if (e.valAccuracy !== undefined) {
      groundTruth.push({ space: parsed.space, task: e.task, arch: e.arch, valAccuracy: e.valAccuracy, origin: source });
    }
  }
  const expected = [...counts.values()].map((c) => ({ space: parsed.space, ...c }));
  return { rows, groundTruth, expected };
}

/**
 * Write entries in NASLib's layout, `{task: {arch: entry}}` with Python's separators and tokens.
 * An entry is `idx` (when known), `arch`, each proxy as {"score", "time"} (a bare float when no
 * time is known, as in the NB101 release), then `val_accuracy` when known.
 */
export function writeNaslibJson(entries: Iterable<NaslibEntry>): string {
  const byTask = new Map<string, NaslibEntry[]>();
  for (const e of entries) {
    let list = byTask.get(e.task);
    if (!list) byTask.set(e.task, (list = []));
    list.push(e);
  }
  const out: string[] = ['{'];
  let firstTask = true;
  for (const [task, list] of byTask) {
    out.push(`${firstTask ? '' : ', '}${JSON.stringify(task)}: {`);
    firstTask = false;
    list.forEach((e, i) => {
      const fields: string[] = [];
      if (e.idx !== undefined) fields.push(`"idx": ${JSON.stringify(e.idx)}`);
      fields.push(`"arch": ${JSON.stringify(e.arch)}`);
      for (const p of e.proxies) {
        const seeds = p.seeds
          ? `, "std": ${pythonJsonNumber(p.seeds.std)}, "n": ${p.seeds.seeds.length}, "seeds": [${p.seeds.seeds.join(', ')}], "scores": [${p.seeds.scores.map(pythonJsonNumber).join(', ')}]`
          : '';
        const v =
          p.time === null && !p.seeds ? pythonJsonNumber(p.score) : `{"score": ${pythonJsonNumber(p.score)}, "time": ${pythonJsonNumber(p.time ?? 0)}${seeds}}`;
        fields.push(`${JSON.stringify(p.proxy)}: ${v}`);
      }
      if (e.valAccuracy !== undefined) fields.push(`"val_accuracy": ${pythonJsonNumber(e.valAccuracy)}`);
      out.push(`${i === 0 ? '' : ', '}${JSON.stringify(e.arch)}: {${fields.join(', ')}}`);
    });
    out.push('}');
  }
  out.push('}');
  return out.join('');
}

/**
 * Group rows (one per cell, `ok` only) and ground truth into NASLib entries, keeping row order. A
 * cell with rows under several seeds (`bySeed`, from rowsBySeed) gets the mean score and time over
 * its seeds, and the seeds' values beside them.
 */
export function entriesFromRows(
  rows: Iterable<ResultRow>,
  valAccuracy: (task: TaskName, arch: string) => number | undefined,
  bySeed?: ReadonlyMap<string, readonly ResultRow[]>,
): NaslibEntry[] {
  const byArch = new Map<string, NaslibEntry>();
  for (const r of rows) {
    if (r.status !== 'ok' || r.score === null) continue;
    const key = `${r.task}\u0000${r.arch}`;
    let e = byArch.get(key);
    if (!e) {
      e = { task: r.task, arch: r.arch, proxies: [] };
      const acc = valAccuracy(r.task, r.arch);
      if (acc !== undefined) e.valAccuracy = acc;
      byArch.set(key, e);
    }
    if (r.archIdx !== undefined && e.idx === undefined) e.idx = r.archIdx;
    const seeded = bySeed?.get(cellKey(r));
    if (seeded && seeded.length > 1) {
      const scores = seeded.map((s) => s.score!);
      const { mean, std } = seedStatistics(scores);
      const time = seedStatistics(seeded.map((s) => s.time ?? 0)).mean;
      e.proxies.push({ proxy: r.proxy, score: mean, time, seeds: { seeds: seeded.map((s) => s.seed), scores, std } });
    } else {
      e.proxies.push({ proxy: r.proxy, score: r.score, time: r.time });
    }
  }
  return [...byArch.values()];
}
