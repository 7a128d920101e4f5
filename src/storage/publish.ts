import { z } from 'zod';
import { PROXIES, SPACES, TASKS, type ProxyName, type SpaceName, type TaskName } from '../core/names';
import { InputError } from '../errors';
import { logger } from '../log';
import { cellKey, dedupeByTripleId, effectiveRows, slotKey } from './cells';
import {
  datasetKeys,
  MANIFEST_SCHEMA_VERSION,
  NAME_PATTERN,
  parseManifest,
  rowFingerprintsOf,
  serializeManifest,
  type CoverageEntry,
  type FileEntry,
  type Manifest,
  type Pointer,
} from './manifest';
import { entriesFromRows, writeNaslibJson } from './naslib';
import { sha256Of, type ObjectStore } from './objects';
import { decodeGroundTruthParquet, decodeRowsParquet, encodeGroundTruthParquet, encodeRowsParquet, type StoredRow } from './parquet';
import { anyNumber, ResultRowSchema, type GroundTruthRow, type ResultRow } from './rows';
import { checkDatasetName, listVersionIds, naturalCompare, readLatest, resolveVersion, type ResolvedVersion } from './versions';

export interface PublishInput {
  dataset: string;
  buildId: string;
  /** Parent: its rows are carried into the new version. */
  parentVersion?: string;
  /** This build's rows (not the parent's); later rows for the same tripleId replace earlier ones. */
  rows: ResultRow[];
  groundTruth?: GroundTruthRow[];
  /** Coverage denominators of this build. */
  expected: { space: SpaceName; task: TaskName; proxy: ProxyName; count: number }[];
  provenance: { fingerprint: string; reuse?: 'same-code' | 'any-code'; spec?: unknown; dataSources: { source: string; sha256: string }[] };
  /**
   * Called before each write that claims something (the version number, the manifest, `latest`);
   * throws when the caller's locks have moved on (the aggregator's build and publish locks).
   */
  fence?: () => Promise<void>;
}

export interface PublishResult {
  version: string;
  manifestSha256: string;
  manifest: Manifest;
  /** Objects this call uploaded. */
  uploaded: number;
  /** Files of the version that were already in the bucket (the parent's parts, identical content). */
  reused: number;
}

/** Rows per Parquet part: parts are the unit an incremental version reuses or rewrites. */
export const PART_ROWS = 200_000;

const GroundTruthRowSchema = z
  .object({ space: z.enum(SPACES), task: z.enum(TASKS), arch: z.string().min(1), valAccuracy: anyNumber, origin: z.string() })
  .strict();

function validate(input: PublishInput): void {
  checkDatasetName(input.dataset);
  if (!NAME_PATTERN.test(input.buildId)) throw new InputError('buildId', input.buildId, 'letters, digits, "_", "." and "-"');
  const check = <T>(schema: z.ZodType<T>, items: readonly unknown[], field: string) => {
    items.forEach((item, i) => {
      const r = schema.safeParse(item);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        const path = issue.path.map(String).join('.');
        const value = issue.path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k as string], item);
        throw new InputError(`${field}[${i}]${path ? '.' + path : ''}`, value, issue.message);
      }
    });
  };
  check(ResultRowSchema, input.rows, 'rows');
  check(GroundTruthRowSchema, input.groundTruth ?? [], 'groundTruth');
  input.expected.forEach((e, i) => {
    if (!(SPACES as readonly string[]).includes(e.space)) throw new InputError(`expected[${i}].space`, e.space, `valid: ${SPACES.join(', ')}`);
    if (!(TASKS as readonly string[]).includes(e.task)) throw new InputError(`expected[${i}].task`, e.task, `valid: ${TASKS.join(', ')}`);
    if (!(PROXIES as readonly string[]).includes(e.proxy)) throw new InputError(`expected[${i}].proxy`, e.proxy, `valid: ${PROXIES.join(', ')}`);
    if (!Number.isInteger(e.count) || e.count < 0) throw new InputError(`expected[${i}].count`, e.count, 'an integer ≥ 0');
  });
}

const partitionKey = (space: string, task: string) => `${space}/${task}`;
const gtKey = (task: string, arch: string) => `${task}\u0000${arch}`;

interface PendingFile {
  path: string;
  entry: FileEntry;
  /** Content to upload; absent when the file is the parent's, carried by reference. */
  body?: Uint8Array;
}

const VersionRecord = z.object({ version: z.string().regex(NAME_PATTERN) });
const ReservationRecord = z.object({ buildId: z.string() });

function parseRecord<T>(schema: z.ZodType<T>, bytes: Buffer | null): T | undefined {
  if (bytes === null) return undefined;
  try {
    const r = schema.safeParse(JSON.parse(bytes.toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Which build holds a version number: its manifest's, else its reservation's (undefined: free). */
async function holderOf(store: ObjectStore, dataset: string, version: string): Promise<string | undefined> {
  const key = datasetKeys.manifest(dataset, version);
  const manifest = await store.getKey(key);
  if (manifest !== null) return parseManifest(manifest, `s3://${store.bucket}/${key}`).buildId;
  return parseRecord(ReservationRecord, await store.getKey(datasetKeys.reservation(dataset, version)))?.buildId;
}

/** Numbers taken: by a manifest or by a reservation (a build that failed before its manifest keeps its number). */
async function takenNumbers(store: ObjectStore, dataset: string): Promise<number[]> {
  const prefix = datasetKeys.reservationsPrefix(dataset);
  const reserved = (await store.list(prefix)).keys.map((k) => k.key.slice(prefix.length)).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
  return [...(await listVersionIds(store, dataset)), ...reserved].map((v) => /^v(\d+)$/.exec(v)?.[1]).filter((n): n is string => n !== undefined).map(Number);
}

/**
 * The build's version id: the one its marker records while no other build holds that number,
 * else the next number no manifest and no reservation has taken. The reservation, then the marker,
 * are written before anything else, so a publish that crashes is completed under the same id and
 * no other build takes it meanwhile. Concurrent publishers of a dataset are kept apart by the
 * caller (the aggregator's publish lock, checked through `fence`): S3 has no conditional writes.
 */
async function versionFor(store: ObjectStore, dataset: string, buildId: string, fence?: () => Promise<void>): Promise<{ version: string; rerun: boolean }> {
  const markerKey = datasetKeys.build(dataset, buildId);
  const marked = parseRecord(VersionRecord, await store.getKey(markerKey))?.version;
  if (marked !== undefined) {
    const holder = await holderOf(store, dataset, marked);
    if (holder === buildId) return { version: marked, rerun: true };
    if (holder === undefined) {
      await fence?.();
      await store.putKey(datasetKeys.reservation(dataset, marked), JSON.stringify({ buildId }) + '\n');
      return { version: marked, rerun: true };
    }
    logger.warn({ dataset, buildId, version: marked, holder }, 'the build\'s version number was taken by another build; taking a new one');
  }
  const numbers = await takenNumbers(store, dataset);
  const version = `v${numbers.length === 0 ? 1 : Math.max(...numbers) + 1}`;
  await fence?.();
  await store.putKey(datasetKeys.reservation(dataset, version), JSON.stringify({ buildId }) + '\n');
  await store.putKey(markerKey, JSON.stringify({ version }) + '\n');
  return { version, rerun: false };
}

async function loadRowsFile(store: ObjectStore, path: string, f: FileEntry): Promise<StoredRow[]> {
  return decodeRowsParquet(await store.getVerified(f.sha256), path);
}

function partPath(space: string, task: string, version: string, n: number): string {
  return `parquet/${space}/${task}/${version}-${String(n).padStart(4, '0')}.parquet`;
}

function sortedUnion<T extends string | number>(a: readonly T[], b: Iterable<T>): T[] {
  const set = new Set<T>(a);
  for (const v of b) set.add(v);
  return [...set].sort((x, y) => (typeof x === 'number' && typeof y === 'number' ? x - y : naturalCompare(String(x), String(y))));
}

/**
 * Publish a version: upload its objects (skipping those present), verify them, write the manifest,
 * then move `latest`. A crash before the pointer moves leaves the previous version as latest;
 * calling again with the same build id completes the same version.
 */
export async function publishVersion(store: ObjectStore, input: PublishInput): Promise<PublishResult> {
  validate(input);
  const { dataset } = input;
  const log = logger.child({ dataset, buildId: input.buildId });
  const parent: ResolvedVersion | null = input.parentVersion ? await resolveVersion(store, dataset, input.parentVersion) : null;
  const { version, rerun } = await versionFor(store, dataset, input.buildId, input.fence);
  if (parent && parent.manifest.version === version) {
    throw new InputError('parentVersion', input.parentVersion, `build ${input.buildId} already published ${version}; its parent must be older`);
  }
  const parentFiles = parent?.manifest.files ?? {};

  const newRows = dedupeByTripleId(input.rows);
  const newIds = new Set(newRows.map((r) => r.tripleId));
  const newOkSlots = new Set(newRows.filter((r) => r.status === 'ok').map(slotKey));
  const superseded = (r: ResultRow) => newIds.has(r.tripleId) || newOkSlots.has(slotKey(r));
  const newGt = new Map<SpaceName, Map<string, GroundTruthRow>>();
  for (const g of input.groundTruth ?? []) {
    let m = newGt.get(g.space);
    if (!m) newGt.set(g.space, (m = new Map()));
    m.set(gtKey(g.task, g.arch), g);
  }
  const newByPartition = new Map<string, ResultRow[]>();
  for (const r of newRows) {
    const k = partitionKey(r.space, r.task);
    let list = newByPartition.get(k);
    if (!list) newByPartition.set(k, (list = []));
    list.push(r);
  }
  const expectedByPartition = new Map<string, PublishInput['expected']>();
  for (const e of input.expected) {
    if (e.count === 0) continue;
    const k = partitionKey(e.space, e.task);
    let list = expectedByPartition.get(k);
    if (!list) expectedByPartition.set(k, (list = []));
    list.push(e);
  }
  const touchedSpaces = new Set<SpaceName>([
    ...newRows.map((r) => r.space),
    ...newGt.keys(),
    ...input.expected.filter((e) => e.count > 0).map((e) => e.space),
  ]);

  const files: PendingFile[] = [];
  const coverage: CoverageEntry[] = [];
  // Untouched spaces: every file and coverage entry carried by reference.
  for (const [path, f] of Object.entries(parentFiles)) {
    if (!touchedSpaces.has(f.space)) files.push({ path, entry: f });
  }
  for (const c of parent?.manifest.coverage ?? []) if (!touchedSpaces.has(c.space)) coverage.push(c);

  for (const space of [...touchedSpaces].sort()) {
    // Ground truth: the parent's, overridden by this build's.
    const gtPath = `ground_truth/${space}.parquet`;
    const parentGtFile = parentFiles[gtPath];
    const parentGt = parentGtFile ? await decodeGroundTruthParquet(await store.getVerified(parentGtFile.sha256), gtPath) : [];
    const gt = new Map<string, GroundTruthRow>(parentGt.map((g) => [gtKey(g.task, g.arch), g]));
    const changedGtTasks = new Set<string>();
    for (const [k, g] of newGt.get(space) ?? []) {
      const old = gt.get(k);
      if (!old || !Object.is(old.valAccuracy, g.valAccuracy) || old.origin !== g.origin) changedGtTasks.add(g.task);
      gt.set(k, g);
    }
    const valAccuracy = (task: string, arch: string): number | undefined => gt.get(gtKey(task, arch))?.valAccuracy;
    if (gt.size > 0) {
      if (parentGtFile && changedGtTasks.size === 0) {
        files.push({ path: gtPath, entry: parentGtFile });
      } else {
        const gtRows = [...gt.values()];
        const body = encodeGroundTruthParquet(gtRows);
        files.push({ path: gtPath, body, entry: { sha256: sha256Of(body), bytes: body.length, rows: gtRows.length, format: 'parquet', kind: 'ground_truth', space } });
      }
    }

    // The parent's parts of this space, grouped by task, oldest first.
    const parentParts = new Map<string, [string, FileEntry][]>();
    for (const [path, f] of Object.entries(parentFiles)) {
      if (f.space !== space || f.kind !== 'rows' || !f.task) continue;
      let list = parentParts.get(f.task);
      if (!list) parentParts.set(f.task, (list = []));
      list.push([path, f]);
    }
    for (const list of parentParts.values()) list.sort((a, b) => naturalCompare(a[0], b[0]));
    const tasks = new Set<string>([...parentParts.keys(), ...[...newByPartition.keys()].filter((k) => k.startsWith(space + '/')).map((k) => k.slice(space.length + 1))]);
    for (const e of input.expected) if (e.space === space && e.count > 0) tasks.add(e.task);

    const spaceRows: StoredRow[] = [];
    for (const task of [...tasks].sort()) {
      const pk = partitionKey(space, task);
      const added = newByPartition.get(pk) ?? [];
      const touched = added.length > 0 || changedGtTasks.has(task) || expectedByPartition.has(pk);
      const partitionRows: StoredRow[] = [];
      const parentRows: StoredRow[] = [];
      let n = 0;
      for (const [path, f] of parentParts.get(task) ?? []) {
        const rows = await loadRowsFile(store, path, f);
        parentRows.push(...rows);
        const kept = rows.filter((r) => !superseded(r)).map((r) => ({ ...r, valAccuracy: valAccuracy(r.task, r.arch) ?? null }));
        const unchanged = kept.length === rows.length && kept.every((r, i) => Object.is(r.valAccuracy, rows[i]!.valAccuracy));
        partitionRows.push(...kept);
        if (unchanged) {
          files.push({ path, entry: f });
        } else if (kept.length > 0) {
          const body = encodeRowsParquet(kept);
          const p = partPath(space, task, version, n++);
          files.push({ path: p, body, entry: { sha256: sha256Of(body), bytes: body.length, rows: kept.length, format: 'parquet', kind: 'rows', space, task: task as TaskName } });
        }
      }
      const addedStored: StoredRow[] = added.map((r) => ({ ...r, valAccuracy: valAccuracy(r.task, r.arch) ?? null }));
      for (let i = 0; i < addedStored.length; i += PART_ROWS) {
        const chunk = addedStored.slice(i, i + PART_ROWS);
        const body = encodeRowsParquet(chunk);
        const p = partPath(space, task, version, n++);
        files.push({ path: p, body, entry: { sha256: sha256Of(body), bytes: body.length, rows: chunk.length, format: 'parquet', kind: 'rows', space, task: task as TaskName } });
      }
      partitionRows.push(...addedStored);
      spaceRows.push(...partitionRows);

      if (!touched) {
        for (const c of parent?.manifest.coverage ?? []) if (c.space === space && c.task === task) coverage.push(c);
      } else {
        coverage.push(...partitionCoverage(space, task as TaskName, parentRows, partitionRows, added, expectedByPartition.get(pk) ?? [], parent?.manifest.coverage ?? []));
      }
    }

    // The NASLib file of the space, regenerated from one row per cell.
    const cells = effectiveRows(spaceRows);
    if (cells.size > 0) {
      const text = writeNaslibJson(entriesFromRows(cells.values(), valAccuracy));
      const body = Buffer.from(text, 'utf8');
      const okCells = [...cells.values()].filter((r) => r.status === 'ok').length;
      files.push({ path: `zc_${space}.json`, body, entry: { sha256: sha256Of(body), bytes: body.length, rows: okCells, format: 'naslib-json', kind: 'naslib', space } });
    }
  }

  // Upload what is new (objects already present are skipped), then check every referenced file is there.
  let uploaded = 0;
  let reused = 0;
  for (const f of files) {
    if (f.body) {
      const put = await store.putObject(f.body);
      if (put.uploaded) uploaded++;
      else reused++;
    } else {
      reused++;
      if (!(await store.hasObject(f.entry.sha256, f.entry.bytes))) {
        throw new InputError('parentVersion', input.parentVersion, `its file ${f.path} (object ${f.entry.sha256}) is missing from bucket ${store.bucket}`);
      }
    }
  }

  const allRows = files.filter((f) => f.entry.kind === 'rows').reduce((s, f) => s + f.entry.rows, 0);
  const fileMap: Record<string, FileEntry> = {};
  for (const f of files.sort((a, b) => naturalCompare(a.path, b.path))) fileMap[f.path] = f.entry;
  const pm = parent?.manifest;
  let manifest: Manifest = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    dataset,
    version,
    parentVersion: parent ? parent.manifest.version : null,
    parentManifestSha256: parent ? parent.manifestSha256 : null,
    buildId: input.buildId,
    createdAt: new Date().toISOString(),
    fingerprint: input.provenance.fingerprint,
    rowFingerprints: sortedUnion(pm ? rowFingerprintsOf(pm) : [], newRows.map((r) => r.fingerprint)),
    backends: sortedUnion(pm?.backends ?? [], newRows.map((r) => r.backend)),
    batchSizes: sortedUnion(pm?.batchSizes ?? [], newRows.map((r) => r.batchSize)),
    seeds: sortedUnion(pm?.seeds ?? [], newRows.map((r) => r.seed)),
    dataSources: mergeSources(pm?.dataSources ?? [], input.provenance.dataSources),
    rowCount: allRows,
    coverage: coverage.sort((a, b) => naturalCompare(`${a.space}/${a.task}/${a.proxy}`, `${b.space}/${b.task}/${b.proxy}`)),
    files: fileMap,
  };
  if (input.provenance.spec !== undefined) manifest.spec = input.provenance.spec;
  if (input.provenance.reuse !== undefined) manifest.reuse = input.provenance.reuse;

  // Manifests are immutable: a re-run of a build whose manifest exists must reproduce it exactly
  // (it then only completes the pointer move); different content needs a new build id.
  const manifestKey = datasetKeys.manifest(dataset, version);
  const existing = rerun ? await store.getKey(manifestKey) : null;
  if (existing !== null) {
    const prev = parseManifest(existing, `s3://${store.bucket}/${manifestKey}`);
    const comparable = (m: Manifest) => serializeManifest({ ...m, createdAt: '' });
    if (comparable(prev) !== comparable(manifest)) {
      throw new InputError('buildId', input.buildId, `already published ${dataset}@${version} with other content; publish under a new build id`);
    }
    manifest = prev;
  }
  const manifestBytes = existing ?? Buffer.from(serializeManifest(manifest), 'utf8');
  await input.fence?.();
  if (existing === null) await store.putKey(manifestKey, manifestBytes);
  const manifestSha256 = sha256Of(manifestBytes);
  const current = await readLatest(store, dataset);
  // Move the pointer unless it already moved on from this build's parent (e.g. a later rollback).
  if (current === null || current.version === manifest.parentVersion || current.version === version) {
    const pointer: Pointer = { version, manifestSha256 };
    await input.fence?.();
    if (current?.manifestSha256 !== manifestSha256) await store.putKey(datasetKeys.latest(dataset), JSON.stringify(pointer) + '\n');
  } else {
    log.warn({ version, latest: current.version }, 'latest has moved past this build\'s parent; left as it is');
  }
  log.info({ version, manifestSha256, uploaded, reused, rows: allRows }, 'version published');
  return { version, manifestSha256, manifest, uploaded, reused };
}

function mergeSources(a: readonly { source: string; sha256: string }[], b: readonly { source: string; sha256: string }[]) {
  const seen = new Map<string, { source: string; sha256: string }>();
  for (const s of [...a, ...b]) seen.set(`${s.source}\u0000${s.sha256}`, { source: s.source, sha256: s.sha256 });
  return [...seen.values()].sort((x, y) => naturalCompare(x.source, y.source) || naturalCompare(x.sha256, y.sha256));
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
  expected: PublishInput['expected'],
  parentCoverage: readonly CoverageEntry[],
): CoverageEntry[] {
  const parentCells = new Set(parentRows.map(cellKey));
  const byProxy = new Map<ProxyName, CoverageEntry>();
  const entry = (proxy: ProxyName): CoverageEntry => {
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
  const overlap = new Map<ProxyName, number>();
  for (const key of new Set(added.map(cellKey))) {
    if (parentCells.has(key)) {
      const proxy = key.slice(key.lastIndexOf('\u0000') + 1) as ProxyName;
      overlap.set(proxy, (overlap.get(proxy) ?? 0) + 1);
    }
  }
  const buildExpected = new Map<ProxyName, number>();
  for (const e of expected) buildExpected.set(e.proxy, (buildExpected.get(e.proxy) ?? 0) + e.count);
  for (const c of parentCoverage) if (c.space === space && c.task === task) entry(c.proxy).expected += c.expected;
  for (const [proxy, count] of buildExpected) entry(proxy).expected += Math.max(0, count - (overlap.get(proxy) ?? 0));
  for (const c of byProxy.values()) c.expected = Math.max(c.expected, c.ok + c.failed);
  return [...byProxy.values()];
}
