import { promises as fsp } from 'fs';
import { dirname, isAbsolute, join, resolve, sep } from 'path';
import type { ColumnProxyName, SpaceName, TaskName } from '../core/names';
import { FormatError, InputError, NotFoundError } from '../errors';
import { LocalCache } from './cache';
import { CARD_PATH, datasetCard } from './dataset-card';
import { prepareOutputDir } from './output-dir';
import { pulledPath, WIDE_DIR } from './pull-layout';
import type { FileEntry, Manifest } from './manifest';
import { parseNaslibJson, writeNaslibJson } from './naslib';
import { sha256Of, type ObjectStore } from './objects';
import { decodeGroundTruthParquet, decodeRowsParquet, encodeGroundTruthParquet, encodeRowsParquet, type StoredRow } from './parquet';
import type { GroundTruthRow } from './rows';
import { resolveVersion } from './versions';
import { wideTables } from './wide';

export type PullFormat = 'naslib' | 'parquet' | 'both';
export const PULL_FORMATS: readonly PullFormat[] = ['naslib', 'parquet', 'both'];

export interface PullFilter {
  space?: SpaceName;
  task?: TaskName;
  proxies?: ColumnProxyName[];
}

export interface PullOptions {
  dataset: string;
  version?: string;
  filter?: PullFilter;
  format?: PullFormat;
  /** Default: `./<dataset>-<version>` (the resolved version). */
  outDir?: string;
  cache?: LocalCache;
  /** Per-file progress while downloading. */
  onProgress?: (path: string, doneBytes: number, totalBytes: number) => void;
}

/** What a pull leaves in its output directory as `zcbench-pull.json` (openDataset reads it). */
export interface PullRecord {
  dataset: string;
  version: string;
  manifestSha256: string;
  filter: PullFilter | null;
  format: PullFormat;
  /**
   * Files written, path in this directory → content (a filtered file has its own sha256). The
   * path is the manifest's, under `data/` for Parquet (pull-layout.ts); a pull made before that
   * layout has its Parquet at the root and reads the same way.
   */
  files: Record<string, FileEntry>;
  /** Tables computed from `files` (the wide Parquet per space and task, under data/wide/), path → content. */
  derived?: Record<string, { sha256: string; bytes: number; rows: number; format: 'parquet'; kind: 'wide'; space: SpaceName; task: TaskName }>;
}

export interface PullResult extends PullRecord {
  outDir: string;
  downloadedBytes: number;
  /** Files served from the local cache without any transfer. */
  cachedFiles: number;
  downloadedFiles: number;
}

export const PULL_RECORD = 'zcbench-pull.json';
export const PULL_MANIFEST = 'manifest.json';

function wanted(f: FileEntry, format: PullFormat, filter: PullFilter): boolean {
  if (format === 'naslib' && f.kind !== 'naslib') return false;
  if (format === 'parquet' && f.kind === 'naslib') return false;
  if (filter.space && f.space !== filter.space) return false;
  if (filter.task && f.task && f.task !== filter.task) return false;
  return true;
}

/** Write `bytes` to `path` through a temporary name, so readers never see a partial file. */
async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, bytes);
  await fsp.rename(tmp, path);
}

async function copyAtomically(from: string, path: string): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await fsp.copyFile(from, tmp);
  await fsp.rename(tmp, path);
}

/**
 * Download a version (or a filtered subset of it) into `outDir`: every object is verified against
 * its sha256 through the local cache, so pulling the same content again transfers nothing.
 * The version's manifest is written verbatim as `manifest.json`; `zcbench-pull.json` lists what
 * the directory holds. Parquet goes under `data/`, the card and the NASLib json at the root
 * (pull-layout.ts): the directory loads with Hugging Face's `load_dataset(dir)` and pushes to a
 * hub repository unchanged.
 */
export async function pullVersion(store: ObjectStore, opts: PullOptions): Promise<PullResult> {
  const format = opts.format ?? 'both';
  if (!PULL_FORMATS.includes(format)) throw new InputError('--format', format, `valid: ${PULL_FORMATS.join(', ')}`);
  const filter: PullFilter = opts.filter ?? {};
  const cache = opts.cache ?? new LocalCache();
  const resolved = await resolveVersion(store, opts.dataset, opts.version);
  const manifest = resolved.manifest;
  const outDir = resolve(opts.outDir ?? `${manifest.dataset}-${manifest.version}`);
  checkFilterMatches(manifest, filter);
  await prepareOutputDir(outDir, opts.outDir === undefined ? 'output directory' : '--out');

  const result: PullResult = {
    dataset: manifest.dataset,
    version: manifest.version,
    manifestSha256: resolved.manifestSha256,
    filter: Object.keys(filter).length > 0 ? filter : null,
    format,
    files: {},
    outDir,
    downloadedBytes: 0,
    cachedFiles: 0,
    downloadedFiles: 0,
  };
  const longRows: StoredRow[] = [];
  const truth: GroundTruthRow[] = [];
  /** What was written, by manifest path (what the card describes). */
  const kept: Record<string, FileEntry> = {};
  // Every path is checked before anything is downloaded or written.
  const files = Object.entries(manifest.files).map(([path, f]) => ({ path, f, local: pulledPath(path, f), dest: destinationOf(outDir, path, f, manifest) }));
  for (const { path, f, local, dest } of files) {
    if (!wanted(f, format, filter)) continue;
    const got = await cache.fetch(store, f.sha256, f.bytes, { onProgress: (done, total) => opts.onProgress?.(path, done, total) });
    result.downloadedBytes += got.downloadedBytes;
    if (got.fromCache) result.cachedFiles++;
    else result.downloadedFiles++;
    const rewritten = await applyFilter(got.path, path, f, filter);
    if (rewritten === null) {
      await copyAtomically(got.path, dest);
      kept[path] = f;
    } else if (rewritten.rows > 0) {
      await writeAtomically(dest, rewritten.body);
      kept[path] = { ...f, sha256: sha256Of(rewritten.body), bytes: rewritten.body.length, rows: rewritten.rows };
    }
    if (!kept[path]) continue;
    result.files[local] = kept[path];
    // What the wide tables are made of (a loop, not push(...): parts hold up to 200 000 rows).
    if (f.kind === 'rows') for (const r of await decodeRowsParquet(await fsp.readFile(dest), path)) longRows.push(r);
    if (f.kind === 'ground_truth') for (const g of await decodeGroundTruthParquet(await fsp.readFile(dest), path)) truth.push(g);
  }
  if (format !== 'naslib') {
    result.derived = {};
    for (const w of wideTables(longRows, truth)) {
      await writeAtomically(join(outDir, w.path), w.body);
      result.derived[w.path] = { sha256: sha256Of(w.body), bytes: w.body.length, rows: w.rows, format: 'parquet', kind: 'wide', space: w.space, task: w.task };
    }
  }
  await writeAtomically(join(outDir, PULL_MANIFEST), resolved.bytes);
  // The card at the root makes the directory a Hugging Face dataset as it stands (README, "Getting data out").
  await writeAtomically(join(outDir, CARD_PATH), datasetCard(manifest, { files: kept, wide: result.derived !== undefined }));
  const record: PullRecord = {
    dataset: result.dataset,
    version: result.version,
    manifestSha256: result.manifestSha256,
    filter: result.filter,
    format,
    files: result.files,
    ...(result.derived ? { derived: result.derived } : {}),
  };
  await writeAtomically(join(outDir, PULL_RECORD), JSON.stringify(record, null, 1) + '\n');
  return result;
}

/**
 * Where a manifest's file goes under `outDir` (pulledPath: Parquet under data/). The manifest
 * comes from the store, which may be hostile: only plain relative paths of `/`-separated names
 * are written, never over this command's own files (its json, the card, the wide tables).
 */
export function destinationOf(outDir: string, path: string, f: Pick<FileEntry, 'format'>, manifest: Pick<Manifest, 'dataset' | 'version'>): string {
  const refuse = (why: string) => new FormatError(`manifest of ${manifest.dataset}@${manifest.version}`, `file path ${JSON.stringify(path)} refused: ${why}`);
  if (path.includes('\0')) throw refuse('it contains a NUL byte');
  if (path.includes('\\')) throw refuse('it contains a backslash');
  if (path.startsWith('/') || isAbsolute(path) || /^[A-Za-z]:/.test(path)) throw refuse('it is absolute');
  const parts = path.split('/');
  if (parts.some((p) => p === '..')) throw refuse('it leaves the output directory');
  if (parts.some((p) => p === '' || p === '.')) throw refuse('it has an empty or "." segment');
  const local = pulledPath(path, f);
  if (local === PULL_MANIFEST || local === PULL_RECORD || local === CARD_PATH) throw refuse(`${path} is written by pull itself`);
  if (local.startsWith(`${WIDE_DIR}/`)) throw refuse(`${WIDE_DIR}/ is written by pull itself`);
  const dest = join(outDir, local);
  if (!dest.startsWith(outDir + sep)) throw refuse('it leaves the output directory');
  return dest;
}

/** A filter naming a space or task the version does not have is a mistake worth reporting. */
function checkFilterMatches(manifest: Manifest, filter: PullFilter): void {
  const files = Object.values(manifest.files);
  if (filter.space && !files.some((f) => f.space === filter.space)) {
    const spaces = [...new Set(files.map((f) => f.space))];
    throw new NotFoundError(`${manifest.dataset}@${manifest.version} has no space ${filter.space} (spaces: ${spaces.join(', ') || 'none'})`);
  }
  if (filter.task && !files.some((f) => f.task === filter.task && (!filter.space || f.space === filter.space))) {
    const tasks = [
      ...new Set(
        files
          .filter((f) => !filter.space || f.space === filter.space)
          .map((f) => f.task)
          .filter(Boolean),
      ),
    ];
    throw new NotFoundError(
      `${manifest.dataset}@${manifest.version} has no task ${filter.task}${filter.space ? ` in ${filter.space}` : ''} (tasks: ${tasks.join(', ') || 'none'})`,
    );
  }
}

/** The filtered content of a file, or null when the whole file is wanted as stored. */
async function applyFilter(localPath: string, path: string, f: FileEntry, filter: PullFilter): Promise<{ body: Uint8Array; rows: number } | null> {
  const proxies = filter.proxies ? new Set<string>(filter.proxies) : undefined;
  if (f.kind === 'rows') {
    if (!proxies) return null;
    const rows = (await decodeRowsParquet(await fsp.readFile(localPath), path)).filter((r) => proxies.has(r.proxy));
    return { body: encodeRowsParquet(rows), rows: rows.length };
  }
  if (f.kind === 'ground_truth') {
    if (!filter.task) return null;
    const rows = (await decodeGroundTruthParquet(await fsp.readFile(localPath), path)).filter((r) => r.task === filter.task);
    return { body: encodeGroundTruthParquet(rows), rows: rows.length };
  }
  if (!proxies && !filter.task) return null;
  const parsed = parseNaslibJson(await fsp.readFile(localPath, 'utf8'), path, f.space, { moduleColumns: true });
  const entries = parsed.entries
    .filter((e) => !filter.task || e.task === filter.task)
    .map((e) => ({ ...e, proxies: proxies ? e.proxies.filter((p) => proxies.has(p.proxy)) : e.proxies }))
    .filter((e) => e.proxies.length > 0);
  const body = Buffer.from(writeNaslibJson(entries), 'utf8');
  return { body, rows: entries.reduce((s, e) => s + e.proxies.length, 0) };
}
