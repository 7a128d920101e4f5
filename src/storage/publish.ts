import { z } from 'zod';
import { COLUMN_PROXIES, MODULE_NAME_PATTERN, SPACES, TASKS, type SpaceName } from '../core/names';
import { InputError } from '../errors';
import { logger, type Logger } from '../log';
import { datasetCard } from './dataset-card';
import { datasetKeys, NAME_PATTERN, parseManifest, serializeManifest, type Manifest, type Pointer } from './manifest';
import { sha256Of, type ObjectStore } from './objects';
import { decodeGroundTruthParquet, decodeRowsParquet, type StoredRow } from './parquet';
import { parentFilesToRead, planVersion, touchedSpaces, type ExpectedCount, type ParentContent, type PlannedFile, type Provenance } from './publish-plan';
import { anyNumber, ResultRowSchema, type GroundTruthRow, type ResultRow } from './rows';
import { checkDatasetName, listVersionIds, readLatest, resolveVersion, type ResolvedVersion } from './versions';

export interface PublishInput {
  dataset: string;
  buildId: string;
  /** Parent: its rows are carried into the new version. */
  parentVersion?: string;
  /** This build's rows (not the parent's); later rows for the same tripleId replace earlier ones. */
  rows: ResultRow[];
  groundTruth?: GroundTruthRow[];
  /** Coverage denominators of this build. */
  expected: ExpectedCount[];
  provenance: Provenance;
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
    if (!(COLUMN_PROXIES as readonly string[]).includes(e.proxy) && !MODULE_NAME_PATTERN.test(e.proxy))
      throw new InputError(`expected[${i}].proxy`, e.proxy, `valid: ${COLUMN_PROXIES.join(', ')}, or a user module's name`);
    if (!Number.isInteger(e.count) || e.count < 0) throw new InputError(`expected[${i}].count`, e.count, 'an integer ≥ 0');
  });
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
  const reserved = (await store.list(prefix)).keys
    .map((k) => k.key.slice(prefix.length))
    .filter((n) => n.endsWith('.json'))
    .map((n) => n.slice(0, -'.json'.length));
  return [...(await listVersionIds(store, dataset)), ...reserved]
    .map((v) => /^v(\d+)$/.exec(v)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
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
    logger.warn({ dataset, buildId, version: marked, holder }, "the build's version number was taken by another build; taking a new one");
  }
  const numbers = await takenNumbers(store, dataset);
  const version = `v${numbers.length === 0 ? 1 : Math.max(...numbers) + 1}`;
  await fence?.();
  await store.putKey(datasetKeys.reservation(dataset, version), JSON.stringify({ buildId }) + '\n');
  await store.putKey(markerKey, JSON.stringify({ version }) + '\n');
  return { version, rerun: false };
}

/** The parent's manifest and the files of `spaces` the plan reads, decoded (each verified against its sha256). */
async function loadParentContent(store: ObjectStore, parent: ResolvedVersion, spaces: ReadonlySet<SpaceName>): Promise<ParentContent> {
  const rows = new Map<string, StoredRow[]>();
  const groundTruth = new Map<string, GroundTruthRow[]>();
  for (const f of parentFilesToRead(parent.manifest, spaces)) {
    const bytes = await store.getVerified(f.entry.sha256);
    if (f.kind === 'rows') rows.set(f.path, await decodeRowsParquet(bytes, f.path));
    else groundTruth.set(f.path, await decodeGroundTruthParquet(bytes, f.path));
  }
  return { manifest: parent.manifest, manifestSha256: parent.manifestSha256, rows, groundTruth };
}

/** Upload what is new (objects already present are skipped), and check every file kept by reference is there. */
async function uploadFiles(
  store: ObjectStore,
  files: readonly PlannedFile[],
  parentVersion: string | undefined,
): Promise<{ uploaded: number; reused: number }> {
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
        throw new InputError('parentVersion', parentVersion, `its file ${f.path} (object ${f.entry.sha256}) is missing from bucket ${store.bucket}`);
      }
    }
  }
  return { uploaded, reused };
}

/**
 * Write the manifest, unless a re-run finds it written: manifests are immutable, so a re-run of a
 * build whose manifest exists must reproduce it exactly (it then only completes the pointer move);
 * different content needs a new build id. Returns the manifest in the store and its bytes.
 */
async function writeManifest(store: ObjectStore, input: PublishInput, planned: Manifest, rerun: boolean): Promise<{ manifest: Manifest; bytes: Buffer }> {
  const key = datasetKeys.manifest(planned.dataset, planned.version);
  const existing = rerun ? await store.getKey(key) : null;
  let manifest = planned;
  if (existing !== null) {
    const prev = parseManifest(existing, `s3://${store.bucket}/${key}`);
    const comparable = (m: Manifest) => serializeManifest({ ...m, createdAt: '' });
    if (comparable(prev) !== comparable(planned)) {
      throw new InputError(
        'buildId',
        input.buildId,
        `already published ${planned.dataset}@${planned.version} with other content; publish under a new build id`,
      );
    }
    manifest = prev;
  }
  const bytes = existing ?? Buffer.from(serializeManifest(manifest), 'utf8');
  await input.fence?.();
  if (existing === null) await store.putKey(key, bytes);
  return { manifest, bytes };
}

/** Move `latest` to the version unless it already moved on from the version's parent (e.g. a later rollback). */
async function moveLatest(store: ObjectStore, manifest: Manifest, manifestSha256: string, fence: PublishInput['fence'], log: Logger): Promise<void> {
  const { dataset, version } = manifest;
  const current = await readLatest(store, dataset);
  if (current === null || current.version === manifest.parentVersion || current.version === version) {
    const pointer: Pointer = { version, manifestSha256 };
    await fence?.();
    if (current?.manifestSha256 !== manifestSha256) await store.putKey(datasetKeys.latest(dataset), JSON.stringify(pointer) + '\n');
  } else {
    log.warn({ version, latest: current.version }, "latest has moved past this build's parent; left as it is");
  }
}

/**
 * Publish a version: reserve its number, plan its files (publish-plan.ts), upload them (skipping
 * those present), verify the parent's, write the manifest, then move `latest`. A crash before the
 * pointer moves leaves the previous version as latest; calling again with the same build id
 * completes the same version.
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
  const plan = planVersion({
    ...input,
    version,
    createdAt: new Date().toISOString(),
    parent: parent && (await loadParentContent(store, parent, touchedSpaces(input))),
  });
  const { uploaded, reused } = await uploadFiles(store, plan.files, input.parentVersion);
  const { manifest, bytes } = await writeManifest(store, input, plan.manifest, rerun);
  const manifestSha256 = sha256Of(bytes);
  await store.putKey(datasetKeys.card(dataset, version), manifest === plan.manifest ? plan.card : datasetCard(manifest), 'text/markdown');
  await moveLatest(store, manifest, manifestSha256, input.fence, log);
  log.info({ version, manifestSha256, uploaded, reused, rows: plan.manifest.rowCount }, 'version published');
  return { version, manifestSha256, manifest, uploaded, reused };
}
