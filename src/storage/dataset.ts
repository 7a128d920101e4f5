import { promises as fsp } from 'fs';
import { basename, join, resolve } from 'path';
import { z } from 'zod';
import { PROXIES, type ProxyName, type SpaceName, type TaskName } from '../core/names';
import { FormatError, NotFoundError } from '../errors';
import { LocalCache } from './cache';
import { effectiveRows } from './cells';
import type { FileEntry } from './manifest';
import { importedRows, parseNaslibJson } from './naslib';
import { sha256Of } from './objects';
import { decodeGroundTruthParquet, decodeRowsParquet, type StoredRow } from './parquet';
import { PULL_RECORD, type PullRecord } from './pull';
import type { GroundTruthRow } from './rows';
import { openStore, parseS3Location, type StoreOptions } from './store';
import { resolveVersion } from './versions';

export interface DatasetFilter {
  space?: SpaceName;
  task?: TaskName;
  proxy?: ProxyName | ProxyName[];
}

/** One (space, task): architectures as integer indices, proxies as columns. */
interface Table {
  archIndex: Map<string, number>;
  archs: string[];
  /** Per proxy (PROXIES order): score and time by arch index; NaN where absent (see `has`). */
  scores: (Float64Array | undefined)[];
  times: (Float64Array | undefined)[];
  has: (Uint8Array | undefined)[];
  valAccuracy: Float64Array;
  hasValAccuracy: Uint8Array;
}

const PROXY_COLUMN = new Map<string, number>(PROXIES.map((p, i) => [p, i]));

/**
 * A loaded dataset version. Lookups go through precomputed maps (arch → index per (space, task),
 * proxies as typed-array columns), so each is a few hash lookups and an array read.
 * Scores are the cell's effective `ok` row (rowPrecedes); failed cells have no score.
 */
export class Dataset {
  private readonly tables = new Map<string, Map<string, Table>>();

  constructor(
    readonly dataset: string,
    readonly version: string | null,
    readonly manifestSha256: string | null,
    private readonly allRows: readonly StoredRow[],
    private readonly truth: readonly GroundTruthRow[],
  ) {
    const cells = effectiveRows(allRows);
    const tableOf = (space: string, task: string): Table => {
      let bySpace = this.tables.get(space);
      if (!bySpace) this.tables.set(space, (bySpace = new Map()));
      let t = bySpace.get(task);
      if (!t) {
        t = { archIndex: new Map(), archs: [], scores: [], times: [], has: [], valAccuracy: new Float64Array(0), hasValAccuracy: new Uint8Array(0) };
        bySpace.set(task, t);
      }
      return t;
    };
    const indexOf = (t: Table, arch: string): number => {
      let i = t.archIndex.get(arch);
      if (i === undefined) {
        i = t.archs.length;
        t.archIndex.set(arch, i);
        t.archs.push(arch);
      }
      return i;
    };
    // Pass 1: every architecture gets its index; pass 2 fills fixed-size columns.
    for (const r of cells.values()) indexOf(tableOf(r.space, r.task), r.arch);
    for (const g of truth) indexOf(tableOf(g.space, g.task), g.arch);
    for (const bySpace of this.tables.values()) {
      for (const t of bySpace.values()) {
        t.valAccuracy = new Float64Array(t.archs.length).fill(NaN);
        t.hasValAccuracy = new Uint8Array(t.archs.length);
      }
    }
    for (const r of cells.values()) {
      if (r.status !== 'ok' || r.score === null) continue;
      const t = tableOf(r.space, r.task);
      const col = PROXY_COLUMN.get(r.proxy)!;
      if (!t.scores[col]) {
        t.scores[col] = new Float64Array(t.archs.length).fill(NaN);
        t.times[col] = new Float64Array(t.archs.length).fill(NaN);
        t.has[col] = new Uint8Array(t.archs.length);
      }
      const i = t.archIndex.get(r.arch)!;
      t.scores[col]![i] = r.score;
      t.times[col]![i] = r.time ?? NaN;
      t.has[col]![i] = r.time === null ? 1 : 3; // bit 0: score, bit 1: time
    }
    for (const g of truth) {
      const t = tableOf(g.space, g.task);
      const i = t.archIndex.get(g.arch)!;
      t.valAccuracy[i] = g.valAccuracy;
      t.hasValAccuracy[i] = 1;
    }
  }

  private table(space: string, task: string): Table | undefined {
    return this.tables.get(space)?.get(task);
  }

  score(space: SpaceName, task: TaskName, arch: string, proxy: ProxyName): number | undefined {
    const t = this.tables.get(space)?.get(task);
    if (!t) return undefined;
    const i = t.archIndex.get(arch);
    const col = PROXY_COLUMN.get(proxy);
    if (i === undefined || col === undefined) return undefined;
    const has = t.has[col];
    return has && has[i]! & 1 ? t.scores[col]![i] : undefined;
  }

  time(space: SpaceName, task: TaskName, arch: string, proxy: ProxyName): number | undefined {
    const t = this.tables.get(space)?.get(task);
    if (!t) return undefined;
    const i = t.archIndex.get(arch);
    const col = PROXY_COLUMN.get(proxy);
    if (i === undefined || col === undefined) return undefined;
    const has = t.has[col];
    return has && has[i]! & 2 ? t.times[col]![i] : undefined;
  }

  valAccuracy(space: SpaceName, task: TaskName, arch: string): number | undefined {
    const t = this.tables.get(space)?.get(task);
    if (!t) return undefined;
    const i = t.archIndex.get(arch);
    return i !== undefined && t.hasValAccuracy[i] ? t.valAccuracy[i] : undefined;
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
    return this.allRows.filter(
      (r) => (!f.space || r.space === f.space) && (!f.task || r.task === f.task) && (!proxies || proxies.has(r.proxy)),
    );
  }

  spaces(): SpaceName[] {
    return [...this.tables.keys()] as SpaceName[];
  }

  tasks(space: SpaceName): TaskName[] {
    return [...(this.tables.get(space)?.keys() ?? [])] as TaskName[];
  }

  /** Architectures of a (space, task), in index order. */
  archs(space: SpaceName, task: TaskName): readonly string[] {
    return this.table(space, task)?.archs ?? [];
  }

  /** Proxies with at least one score on a (space, task), in NASLib's order. */
  proxies(space: SpaceName, task: TaskName): ProxyName[] {
    const t = this.table(space, task);
    return t ? PROXIES.filter((_p, col) => t.has[col] !== undefined) : [];
  }
}

export interface OpenOptions extends StoreOptions {
  cache?: LocalCache;
  /** Load only the parts of this space / task (smaller, faster for a single query). */
  only?: { space?: SpaceName; task?: TaskName };
}

const PullRecordSchema = z.object({
  dataset: z.string(),
  version: z.string(),
  manifestSha256: z.string(),
  files: z.record(z.string(), z.object({ sha256: z.string(), bytes: z.number(), kind: z.string(), format: z.string(), space: z.string(), task: z.string().optional() }).passthrough()),
}).passthrough();

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
    const parsed = parseNaslibJson(text, path);
    const sha = sha256Of(text);
    const imported = importedRows(parsed, { file: path, sha256: sha }, (k) => `${k.space}/${k.task}/${k.arch}/${k.proxy}`);
    return new Dataset(basename(path), null, null, imported.rows.map((r) => ({ ...r, valAccuracy: null })), imported.groundTruth);
  }
  return openFromDirectory(path, opts.only);
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
  for (const [path, f] of entries) {
    const bytes = await fsp.readFile(join(dir, path));
    const sha = sha256Of(bytes);
    if (sha !== f.sha256) throw new FormatError(join(dir, path), `content hashes to ${sha}, ${PULL_RECORD} records ${f.sha256} (modified since the pull?)`);
    if (f.kind === 'rows') rows.push(...(await decodeRowsParquet(bytes, path)));
    else if (f.kind === 'ground_truth') truth.push(...(await decodeGroundTruthParquet(bytes, path)));
    else if (!hasParquet) {
      // Only the NASLib files were pulled: their entries are the rows.
      const parsed = parseNaslibJson(bytes.toString('utf8'), path, f.space);
      const imported = importedRows(parsed, { file: path, sha256: sha }, (k) => `${k.space}/${k.task}/${k.arch}/${k.proxy}`);
      rows.push(...imported.rows.map((r) => ({ ...r, valAccuracy: null })));
      truth.push(...imported.groundTruth);
    }
  }
  return new Dataset(record.dataset, record.version, record.manifestSha256, rows, truth);
}
