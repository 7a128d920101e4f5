import { promises as fsp } from 'fs';
import { basename, join, resolve } from 'path';
import { z } from 'zod';
import { COLUMN_PROXIES, isBuiltInColumn, type ColumnName, type SpaceName, type TaskName } from '../core/names';
import { canonicalArch, readableArch } from '../core/spaces';
import { FormatError, NotFoundError } from '../errors';
import { LocalCache } from './cache';
import { cellKey, effectiveRows, rowsBySeed, seedStatistics } from './cells';
import type { FileEntry } from './manifest';
import { importedRows, parseNaslibJson, type NaslibFile } from './naslib';
import { sha256Of } from './objects';
import { decodeGroundTruthParquet, decodeRowsParquet, type StoredRow } from './parquet';
import { PULL_RECORD, type PullRecord } from './pull';
import type { GroundTruthRow, ResultRow } from './rows';
import { openStore, parseS3Location, type StoreOptions } from './store';
import { resolveVersion } from './versions';

export interface DatasetFilter {
  space?: SpaceName;
  task?: TaskName;
  proxy?: ColumnName | ColumnName[];
}

/**
 * One search space: every architecture seen in any of its tasks gets one integer index, shared
 * by the space's tables (the same cells recur across tasks, so one map serves them all).
 */
interface SpaceIndex {
  archIndex: Map<string, number>;
  tasks: Map<string, Table>;
}

/**
 * One (space, task). Per architecture its proxies' values sit side by side (`i * P + column`), so
 * a lookup touches one small region of memory.
 */
interface Table {
  /** Architectures with a row or a val_accuracy in this task, in first-seen order. */
  archs: string[];
  /** Score and time of (arch i, proxy column c) at i * P + c; meaningful where the mask bit is set. */
  scores: Float64Array;
  times: Float64Array;
  /** Bit c: arch i has a score (time) for proxy column c. */
  scoreMask: Uint32Array;
  timeMask: Uint32Array;
  valAccuracy: Float64Array;
  hasValAccuracy: Uint8Array;
  /** Canonical and readable spellings of the stored keys → the stored key; built on first need. */
  aliases?: Map<string, string>;
}

/** Proxy columns per architecture: at most 32 fit the 32-bit masks (the built-ins take 21, user modules the rest). */
const MAX_COLUMNS = 32;

/**
 * A loaded dataset version. Lookups go through precomputed maps (arch → index per space, proxies
 * as columns of typed arrays), so each is a few hash lookups and an array read.
 * Scores are the cell's effective `ok` row (rowPrecedes), or the mean over seeds where a cell has
 * several (as the NASLib json writes it); failed cells have no score.
 */
export class Dataset {
  private readonly spaceIndex = new Map<string, SpaceIndex>();
  /** Each cell's `ok` rows, one per seed (rowsBySeed). */
  private readonly bySeed: Map<string, StoredRow[]>;
  /** The built-in columns, then the user modules' of the rows (sorted by name). */
  private readonly columns: readonly ColumnName[];
  private readonly columnIndex: Map<string, number>;

  constructor(
    readonly dataset: string,
    readonly version: string | null,
    readonly manifestSha256: string | null,
    private readonly allRows: readonly StoredRow[],
    private readonly truth: readonly GroundTruthRow[],
  ) {
    const cells = effectiveRows(allRows);
    const modules = [...new Set(allRows.map((r) => r.proxy).filter((p) => !isBuiltInColumn(p)))].sort();
    this.columns = [...COLUMN_PROXIES, ...modules];
    if (this.columns.length > MAX_COLUMNS) {
      throw new FormatError(
        `dataset ${dataset}`,
        `${modules.length} user module columns; at most ${MAX_COLUMNS - COLUMN_PROXIES.length} fit beside the built-ins`,
      );
    }
    this.columnIndex = new Map(this.columns.map((p, i) => [p, i]));
    const P = this.columns.length;
    const seen = new Map<string, Set<string>>(); // space/task → archs, for each table's `archs`
    const note = (space: string, task: string, arch: string) => {
      let sp = this.spaceIndex.get(space);
      if (!sp) this.spaceIndex.set(space, (sp = { archIndex: new Map(), tasks: new Map() }));
      if (!sp.archIndex.has(arch)) sp.archIndex.set(arch, sp.archIndex.size);
      const key = `${space}/${task}`;
      let archs = seen.get(key);
      if (!archs) seen.set(key, (archs = new Set()));
      archs.add(arch);
      if (!sp.tasks.has(task)) {
        const none = new Float64Array(0);
        sp.tasks.set(task, {
          archs: [],
          scores: none,
          times: none,
          scoreMask: new Uint32Array(0),
          timeMask: new Uint32Array(0),
          valAccuracy: none,
          hasValAccuracy: new Uint8Array(0),
        });
      }
    };
    // Pass 1: every architecture gets its index; pass 2 fills fixed-size arrays.
    for (const r of cells.values()) note(r.space, r.task, r.arch);
    for (const g of truth) note(g.space, g.task, g.arch);
    for (const [space, sp] of this.spaceIndex) {
      const n = sp.archIndex.size;
      for (const [task, t] of sp.tasks) {
        t.archs = [...seen.get(`${space}/${task}`)!];
        t.scores = new Float64Array(n * P);
        t.times = new Float64Array(n * P);
        t.scoreMask = new Uint32Array(n);
        t.timeMask = new Uint32Array(n);
        t.valAccuracy = new Float64Array(n);
        t.hasValAccuracy = new Uint8Array(n);
      }
    }
    for (const r of cells.values()) {
      if (r.status !== 'ok' || r.score === null) continue;
      const sp = this.spaceIndex.get(r.space)!;
      const t = sp.tasks.get(r.task)!;
      const col = this.columnIndex.get(r.proxy)!;
      const i = sp.archIndex.get(r.arch)!;
      t.scores[i * P + col] = r.score;
      t.scoreMask[i] = t.scoreMask[i]! | (1 << col);
      if (r.time !== null) {
        t.times[i * P + col] = r.time;
        t.timeMask[i] = t.timeMask[i]! | (1 << col);
      }
    }
    // A cell computed under several seeds scores their mean, as the version's NASLib json has it.
    this.bySeed = rowsBySeed(allRows);
    for (const rows of this.bySeed.values()) {
      if (rows.length < 2) continue;
      const r = rows[0]!;
      const t = this.spaceIndex.get(r.space)!.tasks.get(r.task)!;
      const i = this.spaceIndex.get(r.space)!.archIndex.get(r.arch)!;
      t.scores[i * P + this.columnIndex.get(r.proxy)!] = seedStatistics(rows.map((x) => x.score!)).mean;
    }
    for (const g of truth) {
      const sp = this.spaceIndex.get(g.space)!;
      const t = sp.tasks.get(g.task)!;
      const i = sp.archIndex.get(g.arch)!;
      t.valAccuracy[i] = g.valAccuracy;
      t.hasValAccuracy[i] = 1;
    }
  }

  /**
   * The stored key of `arch` in a (space, task): `arch` itself, or the key it spells differently
   * (the NASLib tuple without spaces, NB201's API string, any readable form `readable` gives).
   */
  findArch(space: SpaceName, task: TaskName, arch: string): string | undefined {
    const sp = this.spaceIndex.get(space);
    const t = sp?.tasks.get(task);
    if (t === undefined) return undefined;
    if (sp!.archIndex.has(arch)) return arch;
    if (!t.aliases) {
      t.aliases = new Map();
      for (const key of t.archs) {
        for (const alias of [canonicalArch(space, key), readableArch(space, key, task)]) {
          if (alias !== undefined && !t.aliases.has(alias)) t.aliases.set(alias, key);
        }
      }
    }
    const canonical = canonicalArch(space, arch);
    return t.aliases.get(arch) ?? (canonical === undefined ? undefined : t.aliases.get(canonical));
  }

  /** The space's readable form of an architecture (undefined when the key does not parse). */
  readable(space: SpaceName, task: TaskName, arch: string): string | undefined {
    return readableArch(space, this.findArch(space, task, arch) ?? arch, task);
  }

  private indexOf(space: SpaceName, task: TaskName, arch: string): { t: Table; i: number } | undefined {
    const sp = this.spaceIndex.get(space);
    const t = sp?.tasks.get(task);
    if (t === undefined) return undefined;
    const key = sp!.archIndex.has(arch) ? arch : this.findArch(space, task, arch);
    const i = key === undefined ? undefined : sp!.archIndex.get(key);
    return i === undefined ? undefined : { t, i };
  }

  score(space: SpaceName, task: TaskName, arch: string, proxy: ColumnName): number | undefined {
    return this.cell(space, task, arch, proxy, 'score');
  }

  time(space: SpaceName, task: TaskName, arch: string, proxy: ColumnName): number | undefined {
    return this.cell(space, task, arch, proxy, 'time');
  }

  /**
   * A cell computed under several seeds: each seed's `ok` score (seed order) and their mean and
   * sample standard deviation (what the version's NASLib json writes); undefined for one seed.
   */
  seedScores(
    space: SpaceName,
    task: TaskName,
    arch: string,
    proxy: ColumnName,
  ): { seeds: number[]; scores: number[]; mean: number; std: number; n: number } | undefined {
    const rows = this.bySeed.get(cellKey({ space, task, arch, proxy }));
    if (!rows || rows.length < 2) return undefined;
    const scores = rows.map((r) => r.score!);
    return { seeds: rows.map((r) => r.seed), scores, ...seedStatistics(scores) };
  }

  private cell(space: SpaceName, task: TaskName, arch: string, proxy: ColumnName, what: 'score' | 'time'): number | undefined {
    const at = this.indexOf(space, task, arch);
    const col = this.columnIndex.get(proxy);
    if (at === undefined || col === undefined) return undefined;
    const [values, mask] = what === 'score' ? [at.t.scores, at.t.scoreMask] : [at.t.times, at.t.timeMask];
    return (mask[at.i]! & (1 << col)) === 0 ? undefined : values[at.i * this.columns.length + col];
  }

  valAccuracy(space: SpaceName, task: TaskName, arch: string): number | undefined {
    const at = this.indexOf(space, task, arch);
    return at !== undefined && at.t.hasValAccuracy[at.i] ? at.t.valAccuracy[at.i] : undefined;
  }

  /**
   * Whether this version already holds every given row (same triple id, identical content) and
   * ground-truth value: publishing them on top of it would change nothing.
   */
  holds(rows: readonly ResultRow[], groundTruth: readonly GroundTruthRow[]): boolean {
    const byId = new Map(this.allRows.map((r) => [r.tripleId, r]));
    const held = (r: ResultRow) => {
      const old = byId.get(r.tripleId);
      return (
        old !== undefined &&
        old.status === r.status &&
        Object.is(old.score, r.score) &&
        Object.is(old.time, r.time) &&
        (old.reason ?? null) === (r.reason ?? null) &&
        old.arch === r.arch &&
        old.batchSize === r.batchSize &&
        old.backend === r.backend &&
        old.dataSha256 === r.dataSha256 &&
        (old.archIdx ?? null) === (r.archIdx ?? null)
      );
    };
    if (!rows.every(held)) return false;
    const key = (g: GroundTruthRow) => `${g.space}\u0000${g.task}\u0000${g.arch}`;
    const truth = new Map(this.truth.map((g) => [key(g), g.valAccuracy]));
    return groundTruth.every((g) => Object.is(truth.get(key(g)), g.valAccuracy));
  }

  /** Every stored row (ok and failed, all seeds), in version order. */
  *rows(): IterableIterator<StoredRow> {
    yield* this.allRows;
  }

  *groundTruth(): IterableIterator<GroundTruthRow> {
    yield* this.truth;
  }

  /** Stored rows of a space / task / proxy (or list of proxies). */
  filter(f: DatasetFilter): StoredRow[] {
    const proxies = f.proxy === undefined ? undefined : new Set<string>(Array.isArray(f.proxy) ? f.proxy : [f.proxy]);
    return this.allRows.filter((r) => (!f.space || r.space === f.space) && (!f.task || r.task === f.task) && (!proxies || proxies.has(r.proxy)));
  }

  spaces(): SpaceName[] {
    return [...this.spaceIndex.keys()] as SpaceName[];
  }

  tasks(space: SpaceName): TaskName[] {
    return [...(this.spaceIndex.get(space)?.tasks.keys() ?? [])] as TaskName[];
  }

  /** Architectures of a (space, task) with a row or a val_accuracy, in first-seen order. */
  archs(space: SpaceName, task: TaskName): readonly string[] {
    return this.spaceIndex.get(space)?.tasks.get(task)?.archs ?? [];
  }

  /** Proxies with at least one score on a (space, task), in NASLib's order, user modules' last. */
  proxies(space: SpaceName, task: TaskName): ColumnName[] {
    const t = this.spaceIndex.get(space)?.tasks.get(task);
    if (!t) return [];
    let any = 0;
    for (let i = 0; i < t.scoreMask.length; i++) any |= t.scoreMask[i]!;
    return this.columns.filter((_p, col) => (any & (1 << col)) !== 0);
  }
}

export interface OpenOptions extends StoreOptions {
  cache?: LocalCache;
  /** Load only the parts of this space / task (smaller, faster for a single query). */
  only?: { space?: SpaceName; task?: TaskName };
}

const PullRecordSchema = z
  .object({
    dataset: z.string(),
    version: z.string(),
    manifestSha256: z.string(),
    files: z.record(
      z.string(),
      z.object({ sha256: z.string(), bytes: z.number(), kind: z.string(), format: z.string(), space: z.string(), task: z.string().optional() }).passthrough(),
    ),
  })
  .passthrough();

/**
 * Open a dataset from `s3://bucket/dataset[@version]` (objects verified through the local cache),
 * a directory written by `zcbench pull`, or a NASLib zc_<space>.json file.
 */
export async function openDataset(location: string, version?: string, opts: OpenOptions = {}): Promise<Dataset> {
  const s3 = parseS3Location(location);
  if (s3) return openFromStore(s3.dataset, version ?? s3.version, { ...opts, bucket: s3.bucket });
  const path = resolve(location);
  let stat;
  try {
    stat = await fsp.stat(path);
  } catch {
    throw new NotFoundError(`${location}: no such file or directory (expected s3://BUCKET/DATASET[@VERSION], a pulled directory or a zc_<space>.json)`);
  }
  if (stat.isFile()) {
    const text = await fsp.readFile(path, 'utf8');
    const { rows, groundTruth } = naslibStoredRows(parseNaslibJson(text, path), path, sha256Of(text));
    return new Dataset(basename(path), null, null, rows, groundTruth);
  }
  return openFromDirectory(path, opts.only);
}

/** A NASLib file read as a dataset: its entries become rows (ids local to this view) with val_accuracy joined. */
function naslibStoredRows(parsed: NaslibFile, file: string, sha256: string): { rows: StoredRow[]; groundTruth: GroundTruthRow[] } {
  const imported = importedRows(parsed, { file, sha256 }, (k) => `${k.space}/${k.task}/${k.arch}/${k.proxy}`);
  const acc = new Map(imported.groundTruth.map((g) => [`${g.task}\u0000${g.arch}`, g.valAccuracy]));
  return {
    rows: imported.rows.map((r) => ({ ...r, valAccuracy: acc.get(`${r.task}\u0000${r.arch}`) ?? null })),
    groundTruth: imported.groundTruth,
  };
}

function selected(f: Pick<FileEntry, 'space' | 'task'>, only?: OpenOptions['only']): boolean {
  return (!only?.space || f.space === only.space) && (!only?.task || !f.task || f.task === only.task);
}

async function openFromStore(dataset: string, version: string | undefined, opts: OpenOptions): Promise<Dataset> {
  const store = openStore(opts);
  const cache = opts.cache ?? new LocalCache();
  const resolved = await resolveVersion(store, dataset, version);
  const rows: StoredRow[] = [];
  const truth: GroundTruthRow[] = [];
  for (const [path, f] of Object.entries(resolved.manifest.files)) {
    if (f.kind === 'naslib' || !selected(f, opts.only)) continue;
    const local = await cache.fetch(store, f.sha256, f.bytes);
    const bytes = await fsp.readFile(local.path);
    if (f.kind === 'rows') rows.push(...(await decodeRowsParquet(bytes, path)));
    else truth.push(...(await decodeGroundTruthParquet(bytes, path)));
  }
  return new Dataset(dataset, resolved.manifest.version, resolved.manifestSha256, rows, truth);
}

async function openFromDirectory(dir: string, only?: OpenOptions['only']): Promise<Dataset> {
  const recordPath = join(dir, PULL_RECORD);
  let record: PullRecord;
  try {
    const parsed = PullRecordSchema.safeParse(JSON.parse(await fsp.readFile(recordPath, 'utf8')));
    if (!parsed.success) throw new FormatError(recordPath, `not a zcbench pull record: ${parsed.error.issues[0]!.message}`);
    record = parsed.data as unknown as PullRecord;
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new NotFoundError(`${dir}: no ${PULL_RECORD} (not a directory written by zcbench pull)`);
  }
  const entries = Object.entries(record.files).filter(([, f]) => selected(f, only));
  const hasParquet = entries.some(([, f]) => f.kind === 'rows');
  const rows: StoredRow[] = [];
  const truth: GroundTruthRow[] = [];
  // The record's paths are where the files are: Parquet under data/, or at the root in a pull made
  // before that layout (both read the same way).
  for (const [path, f] of entries) {
    const bytes = await fsp.readFile(join(dir, path)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      throw new FormatError(join(dir, path), `listed in ${PULL_RECORD} but missing (moved since the pull? pull again)`);
    });
    const sha = sha256Of(bytes);
    if (sha !== f.sha256) throw new FormatError(join(dir, path), `content hashes to ${sha}, ${PULL_RECORD} records ${f.sha256} (modified since the pull?)`);
    if (f.kind === 'rows') rows.push(...(await decodeRowsParquet(bytes, path)));
    else if (f.kind === 'ground_truth') truth.push(...(await decodeGroundTruthParquet(bytes, path)));
    else if (!hasParquet) {
      // Only the NASLib files were pulled: their entries are the rows.
      const imported = naslibStoredRows(parseNaslibJson(bytes.toString('utf8'), path, f.space, { moduleColumns: true }), path, sha);
      rows.push(...imported.rows);
      truth.push(...imported.groundTruth);
    }
  }
  return new Dataset(record.dataset, record.version, record.manifestSha256, rows, truth);
}
