/**
 * What a version consists of, computed without touching the store: from the parent's manifest and
 * decoded files, this build's rows, ground truth and expected counts, the files of the version
 * (new ones with their bytes, the parent's kept ones by reference), its coverage and its manifest.
 * `publishVersion` (publish.ts) loads the inputs, and uploads and commits what this returns.
 */
import { AZ_NAS, type ColumnName, type SpaceName, type TaskName } from '../core/names';
import { azNasRows, sameAzNasRows } from './az-nas-rows';
import { datasetCard } from './dataset-card';
import { cellKey, dedupeByTripleId, effectiveRows, rowsBySeed, slotKey } from './cells';
import { MANIFEST_SCHEMA_VERSION, rowFingerprintsOf, type CoverageEntry, type FileEntry, type Manifest, type ModuleEntry } from './manifest';
import { entriesFromRows, writeNaslibJson } from './naslib';
import { sha256Of } from './objects';
import { encodeGroundTruthParquet, encodeRowsParquet, type StoredRow } from './parquet';
import type { GroundTruthRow, ResultRow } from './rows';
import { naturalCompare } from './versions';

/** Rows per Parquet part: parts are the unit an incremental version reuses or rewrites. */
export const PART_ROWS = 200_000;

/** A coverage denominator of a build: how many cells of (space, task, proxy) it set out to deliver. */
export interface ExpectedCount {
  space: SpaceName;
  task: TaskName;
  proxy: ColumnName;
  count: number;
}

export interface DataSourceEntry {
  source: string;
  sha256: string;
}

export interface Provenance {
  fingerprint: string;
  reuse?: 'same-code' | 'any-code';
  spec?: unknown;
  dataSources: DataSourceEntry[];
  /** The build's user proxy modules: the manifest records them with the parent's. */
  modules?: ModuleEntry[];
}

/** The parent version as the plan reads it: its manifest and the files of the spaces the build touches, decoded. */
export interface ParentContent {
  manifest: Manifest;
  manifestSha256: string;
  /** Row parts by path (`parentFilesToRead`). */
  rows: ReadonlyMap<string, readonly StoredRow[]>;
  /** Ground truth files by path. */
  groundTruth: ReadonlyMap<string, readonly GroundTruthRow[]>;
}

export interface PlanInput {
  dataset: string;
  buildId: string;
  /** The version id the build holds (publish.ts reserves it). */
  version: string;
  createdAt: string;
  parent: ParentContent | null;
  /** This build's rows (not the parent's); later rows for the same tripleId replace earlier ones. */
  rows: readonly ResultRow[];
  groundTruth?: readonly GroundTruthRow[];
  expected: readonly ExpectedCount[];
  provenance: Provenance;
}

export interface PlannedFile {
  path: string;
  entry: FileEntry;
  /** Content to upload; absent when the file is the parent's, carried by reference. */
  body?: Uint8Array;
}

export interface VersionPlan {
  /** In the order they were planned (the upload order); the manifest lists them by path. */
  files: PlannedFile[];
  manifest: Manifest;
  /** The version's dataset card (dataset-card.ts), stored beside its manifest. */
  card: string;
}

const partitionKey = (space: string, task: string) => `${space}/${task}`;
const gtKey = (task: string, arch: string) => `${task}\u0000${arch}`;
const groundTruthPath = (space: string) => `ground_truth/${space}.parquet`;

function partPath(space: string, task: string, version: string, n: number): string {
  return `parquet/${space}/${task}/${version}-${String(n).padStart(4, '0')}.parquet`;
}

function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    let list = groups.get(k);
    if (!list) groups.set(k, (list = []));
    list.push(item);
  }
  return groups;
}

/** The spaces whose files a build rewrites: those it has rows, ground truth or expected cells for. */
export function touchedSpaces(input: Pick<PlanInput, 'rows' | 'groundTruth' | 'expected'>): Set<SpaceName> {
  return new Set<SpaceName>([
    ...input.rows.map((r) => r.space),
    ...(input.groundTruth ?? []).map((g) => g.space),
    ...input.expected.filter((e) => e.count > 0).map((e) => e.space),
  ]);
}

const isRowPart = (f: FileEntry): f is FileEntry & { task: TaskName } => f.kind === 'rows' && f.task !== undefined;

/** The parent's files the plan reads (ground truth and row parts of the touched spaces), in reading order. */
export function parentFilesToRead(parent: Manifest, spaces: ReadonlySet<SpaceName>): { path: string; entry: FileEntry; kind: 'rows' | 'ground_truth' }[] {
  const out: { path: string; entry: FileEntry; kind: 'rows' | 'ground_truth' }[] = [];
  for (const space of [...spaces].sort()) {
    const gt = parent.files[groundTruthPath(space)];
    if (gt) out.push({ path: groundTruthPath(space), entry: gt, kind: 'ground_truth' });
    const parts = Object.entries(parent.files).filter(([, f]) => f.space === space && isRowPart(f));
    for (const [path, entry] of parts.sort((a, b) => naturalCompare(a[0], b[0]))) out.push({ path, entry, kind: 'rows' });
  }
  return out;
}

function loaded<T>(files: ReadonlyMap<string, T>, path: string): T {
  const content = files.get(path);
  if (content === undefined) throw new Error(`publish plan: the parent's ${path} was not loaded (parentFilesToRead lists it)`);
  return content;
}

/** This build's rows and ground truth, indexed the ways the plan looks them up. */
interface BuildIndex {
  rowsByPartition: Map<string, ResultRow[]>;
  /** A parent row this build replaces: same triple id, or an `ok` row of this build in its slot. */
  superseded: (r: ResultRow) => boolean;
  groundTruthBySpace: Map<string, GroundTruthRow[]>;
  expectedByPartition: Map<string, ExpectedCount[]>;
}

function indexBuild(newRows: readonly ResultRow[], input: PlanInput): BuildIndex {
  const newIds = new Set(newRows.map((r) => r.tripleId));
  const newOkSlots = new Set(newRows.filter((r) => r.status === 'ok').map(slotKey));
  return {
    rowsByPartition: groupBy(newRows, (r) => partitionKey(r.space, r.task)),
    superseded: (r) => newIds.has(r.tripleId) || newOkSlots.has(slotKey(r)),
    groundTruthBySpace: groupBy(input.groundTruth ?? [], (g) => g.space),
    expectedByPartition: groupBy(
      input.expected.filter((e) => e.count > 0),
      (e) => partitionKey(e.space, e.task),
    ),
  };
}

interface SpaceGroundTruth {
  file?: PlannedFile;
  /** Tasks whose ground truth this build adds or changes: their rows carry new accuracies. */
  changedTasks: Set<string>;
  valAccuracy: (task: string, arch: string) => number | undefined;
}

/** Ground truth of a space: the parent's, overridden by this build's; its file kept unless a task changed. */
function planGroundTruth(space: SpaceName, parent: ParentContent | null, added: readonly GroundTruthRow[]): SpaceGroundTruth {
  const path = groundTruthPath(space);
  const parentFile = parent?.manifest.files[path];
  const parentGt = parentFile ? loaded(parent!.groundTruth, path) : [];
  const gt = new Map<string, GroundTruthRow>(parentGt.map((g) => [gtKey(g.task, g.arch), g]));
  // The build's own later entries for an (task, arch) replace its earlier ones.
  const changedTasks = new Set<string>();
  for (const g of new Map(added.map((g) => [gtKey(g.task, g.arch), g])).values()) {
    const old = gt.get(gtKey(g.task, g.arch));
    if (!old || !Object.is(old.valAccuracy, g.valAccuracy) || old.origin !== g.origin) changedTasks.add(g.task);
    gt.set(gtKey(g.task, g.arch), g);
  }
  const valAccuracy = (task: string, arch: string) => gt.get(gtKey(task, arch))?.valAccuracy;
  if (gt.size === 0) return { changedTasks, valAccuracy };
  if (parentFile && changedTasks.size === 0) return { file: { path, entry: parentFile }, changedTasks, valAccuracy };
  const rows = [...gt.values()];
  const body = encodeGroundTruthParquet(rows);
  return {
    file: { path, body, entry: { sha256: sha256Of(body), bytes: body.length, rows: rows.length, format: 'parquet', kind: 'ground_truth', space } },
    changedTasks,
    valAccuracy,
  };
}

function rowPart(space: SpaceName, task: TaskName, path: string, rows: readonly StoredRow[]): PlannedFile {
  const body = encodeRowsParquet(rows);
  return { path, body, entry: { sha256: sha256Of(body), bytes: body.length, rows: rows.length, format: 'parquet', kind: 'rows', space, task } };
}

interface PartitionPlan {
  files: PlannedFile[];
  /** Every row of the partition in the version. */
  rows: StoredRow[];
  coverage: CoverageEntry[];
}

/**
 * One (space, task): each parent part kept by reference when none of its rows is replaced and none
 * gets another accuracy, else rewritten without the replaced rows; this build's rows in new parts.
 */
function planPartition(
  space: SpaceName,
  task: TaskName,
  parentParts: readonly { path: string; entry: FileEntry }[],
  input: PlanInput,
  build: BuildIndex,
  gt: SpaceGroundTruth,
): PartitionPlan {
  const pk = partitionKey(space, task);
  const withAccuracy = (r: ResultRow): StoredRow => ({ ...r, valAccuracy: gt.valAccuracy(r.task, r.arch) ?? null });
  const azNas = planAzNas(
    parentParts.flatMap(({ path }) => loaded(input.parent!.rows, path)),
    build.rowsByPartition.get(pk) ?? [],
    build,
  );
  const added = [...(build.rowsByPartition.get(pk) ?? []), ...(azNas ?? [])];
  const files: PlannedFile[] = [];
  const rows: StoredRow[] = [];
  const parentRows: StoredRow[] = [];
  let n = 0;
  for (const { path, entry } of parentParts) {
    const partRows = loaded(input.parent!.rows, path);
    parentRows.push(...partRows);
    const kept = partRows.filter((r) => !build.superseded(r) && !(azNas && r.proxy === AZ_NAS)).map(withAccuracy);
    const unchanged = kept.length === partRows.length && kept.every((r, i) => Object.is(r.valAccuracy, partRows[i]!.valAccuracy));
    rows.push(...kept);
    if (unchanged) files.push({ path, entry });
    else if (kept.length > 0) files.push(rowPart(space, task, partPath(space, task, input.version, n++), kept));
  }
  const addedStored = added.map(withAccuracy);
  for (let i = 0; i < addedStored.length; i += PART_ROWS) {
    files.push(rowPart(space, task, partPath(space, task, input.version, n++), addedStored.slice(i, i + PART_ROWS)));
  }
  rows.push(...addedStored);

  const parentCoverage = input.parent?.manifest.coverage ?? [];
  const touched = added.length > 0 || gt.changedTasks.has(task) || build.expectedByPartition.has(pk);
  const coverage = touched
    ? partitionCoverage(space, task, parentRows, rows, added, build.expectedByPartition.get(pk) ?? [], parentCoverage)
    : parentCoverage.filter((c) => c.space === space && c.task === task);
  return { files, rows, coverage };
}

/**
 * The partition's az_nas rows derived anew from its part rows (the parent's kept ones and this
 * build's), or null when they equal the parent's (its az_nas rows then stay as they are).
 */
function planAzNas(parentRows: readonly StoredRow[], added: readonly ResultRow[], build: BuildIndex): StoredRow[] | null {
  const kept = parentRows.filter((r) => !build.superseded(r));
  const population = [...kept.filter((r) => r.proxy !== AZ_NAS), ...added.map((r) => ({ ...r, valAccuracy: null }))];
  const derived = azNasRows(population);
  return sameAzNasRows(
    kept.filter((r) => r.proxy === AZ_NAS),
    derived,
  )
    ? null
    : derived;
}

/** The NASLib file of a space, regenerated from one row per cell (a cell computed under several seeds: their mean). */
function naslibFile(space: SpaceName, rows: readonly StoredRow[], valAccuracy: SpaceGroundTruth['valAccuracy']): PlannedFile | undefined {
  const cells = effectiveRows(rows);
  if (cells.size === 0) return undefined;
  const body = Buffer.from(writeNaslibJson(entriesFromRows(cells.values(), valAccuracy, rowsBySeed(rows))), 'utf8');
  const okCells = [...cells.values()].filter((r) => r.status === 'ok').length;
  return { path: `zc_${space}.json`, body, entry: { sha256: sha256Of(body), bytes: body.length, rows: okCells, format: 'naslib-json', kind: 'naslib', space } };
}

/** A touched space: its ground truth, every task's parts and coverage, its NASLib file. */
function planSpace(space: SpaceName, input: PlanInput, build: BuildIndex): { files: PlannedFile[]; coverage: CoverageEntry[] } {
  const gt = planGroundTruth(space, input.parent, build.groundTruthBySpace.get(space) ?? []);
  const files: PlannedFile[] = gt.file ? [gt.file] : [];
  const coverage: CoverageEntry[] = [];
  // The parent's parts of this space by task, oldest first.
  const parentParts = groupBy(
    input.parent ? parentFilesToRead(input.parent.manifest, new Set([space])).filter((f) => f.kind === 'rows') : [],
    (f) => f.entry.task!,
  );
  const tasks = new Set<string>(parentParts.keys());
  for (const rows of build.rowsByPartition.values()) if (rows[0]!.space === space) tasks.add(rows[0]!.task);
  for (const e of input.expected) if (e.space === space && e.count > 0) tasks.add(e.task);
  const spaceRows: StoredRow[] = [];
  for (const task of [...tasks].sort()) {
    const partition = planPartition(space, task as TaskName, parentParts.get(task) ?? [], input, build, gt);
    files.push(...partition.files);
    coverage.push(...partition.coverage);
    spaceRows.push(...partition.rows);
  }
  const naslib = naslibFile(space, spaceRows, gt.valAccuracy);
  if (naslib) files.push(naslib);
  return { files, coverage };
}

function sortedUnion<T extends string | number>(a: readonly T[], b: Iterable<T>): T[] {
  const set = new Set<T>(a);
  for (const v of b) set.add(v);
  return [...set].sort((x, y) => (typeof x === 'number' && typeof y === 'number' ? x - y : naturalCompare(String(x), String(y))));
}

function mergeSources(a: readonly DataSourceEntry[], b: readonly DataSourceEntry[]): DataSourceEntry[] {
  const seen = new Map<string, DataSourceEntry>();
  for (const s of [...a, ...b]) seen.set(`${s.source}\u0000${s.sha256}`, { source: s.source, sha256: s.sha256 });
  return [...seen.values()].sort((x, y) => naturalCompare(x.source, y.source) || naturalCompare(x.sha256, y.sha256));
}

/** The parent's modules and the build's, once each (name, sha256), by name: the parent's file name kept. */
function mergeModules(a: readonly ModuleEntry[], b: readonly ModuleEntry[]): ModuleEntry[] {
  const seen = new Map<string, ModuleEntry>();
  for (const m of [...a, ...b]) {
    const key = `${m.name}\u0000${m.sha256}`;
    if (!seen.has(key)) seen.set(key, { name: m.name, file: m.file, sha256: m.sha256 });
  }
  return [...seen.values()].sort((x, y) => naturalCompare(x.name, y.name) || naturalCompare(x.sha256, y.sha256));
}

function manifestOf(input: PlanInput, newRows: readonly ResultRow[], files: readonly PlannedFile[], coverage: CoverageEntry[]): Manifest {
  const pm = input.parent?.manifest;
  const fileMap: Record<string, FileEntry> = {};
  for (const f of [...files].sort((a, b) => naturalCompare(a.path, b.path))) fileMap[f.path] = f.entry;
  const manifest: Manifest = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    dataset: input.dataset,
    version: input.version,
    parentVersion: pm ? pm.version : null,
    parentManifestSha256: input.parent ? input.parent.manifestSha256 : null,
    buildId: input.buildId,
    createdAt: input.createdAt,
    fingerprint: input.provenance.fingerprint,
    rowFingerprints: sortedUnion(
      pm ? rowFingerprintsOf(pm) : [],
      newRows.map((r) => r.fingerprint),
    ),
    backends: sortedUnion(
      pm?.backends ?? [],
      newRows.map((r) => r.backend),
    ),
    batchSizes: sortedUnion(
      pm?.batchSizes ?? [],
      newRows.map((r) => r.batchSize),
    ),
    seeds: sortedUnion(
      pm?.seeds ?? [],
      newRows.map((r) => r.seed),
    ),
    dataSources: mergeSources(pm?.dataSources ?? [], input.provenance.dataSources),
    rowCount: files.filter((f) => f.entry.kind === 'rows').reduce((s, f) => s + f.entry.rows, 0),
    coverage: coverage.sort((a, b) => naturalCompare(`${a.space}/${a.task}/${a.proxy}`, `${b.space}/${b.task}/${b.proxy}`)),
    files: fileMap,
  };
  if (input.provenance.spec !== undefined) manifest.spec = input.provenance.spec;
  if (input.provenance.reuse !== undefined) manifest.reuse = input.provenance.reuse;
  const modules = mergeModules(pm?.modules ?? [], input.provenance.modules ?? []);
  if (modules.length > 0) manifest.modules = modules;
  return manifest;
}

/**
 * The version's files and manifest. Spaces the build does not touch keep the parent's files and
 * coverage by reference; a touched space's ground truth, parts, coverage and NASLib file are planned
 * anew (a part whose rows all stay as they were is still kept by reference).
 */
export function planVersion(input: PlanInput): VersionPlan {
  const newRows = dedupeByTripleId(input.rows);
  const build = indexBuild(newRows, input);
  const touched = touchedSpaces(input);
  const files: PlannedFile[] = [];
  const coverage: CoverageEntry[] = [];
  for (const [path, entry] of Object.entries(input.parent?.manifest.files ?? {})) if (!touched.has(entry.space)) files.push({ path, entry });
  for (const c of input.parent?.manifest.coverage ?? []) if (!touched.has(c.space)) coverage.push(c);
  for (const space of [...touched].sort()) {
    const planned = planSpace(space, input, build);
    files.push(...planned.files);
    coverage.push(...planned.coverage);
  }
  const manifest = manifestOf(input, newRows, files, coverage);
  return { files, manifest, card: datasetCard(manifest) };
}

/**
 * Coverage of one (space, task) after merging: ok and failed count cells (one per arch and proxy).
 * expected = the parent's expected + this build's expected less the build's cells the parent
 * already had (a retried cell is expected once), and never less than what was delivered.
 */
function partitionCoverage(
  space: SpaceName,
  task: TaskName,
  parentRows: readonly ResultRow[],
  rows: readonly ResultRow[],
  added: readonly ResultRow[],
  expected: readonly ExpectedCount[],
  parentCoverage: readonly CoverageEntry[],
): CoverageEntry[] {
  const parentCells = new Set(parentRows.map(cellKey));
  const byProxy = new Map<ColumnName, CoverageEntry>();
  const entry = (proxy: ColumnName): CoverageEntry => {
    let c = byProxy.get(proxy);
    if (!c) byProxy.set(proxy, (c = { space, task, proxy, expected: 0, ok: 0, failed: 0, failedByReason: {} }));
    return c;
  };
  for (const r of effectiveRows(rows).values()) {
    const c = entry(r.proxy);
    if (r.status === 'ok') c.ok++;
    else {
      c.failed++;
      const reason = r.reason ?? 'unknown';
      c.failedByReason[reason] = (c.failedByReason[reason] ?? 0) + 1;
    }
  }
  const overlap = new Map<ColumnName, number>();
  for (const key of new Set(added.map(cellKey))) {
    if (parentCells.has(key)) {
      const proxy = key.slice(key.lastIndexOf('\u0000') + 1) as ColumnName;
      overlap.set(proxy, (overlap.get(proxy) ?? 0) + 1);
    }
  }
  const buildExpected = new Map<ColumnName, number>();
  for (const e of expected) buildExpected.set(e.proxy, (buildExpected.get(e.proxy) ?? 0) + e.count);
  for (const c of parentCoverage) if (c.space === space && c.task === task) entry(c.proxy).expected += c.expected;
  for (const [proxy, count] of buildExpected) entry(proxy).expected += Math.max(0, count - (overlap.get(proxy) ?? 0));
  for (const c of byProxy.values()) c.expected = Math.max(c.expected, c.ok + c.failed);
  return [...byProxy.values()];
}
