import { IntegrityError, InputError, NotFoundError } from '../errors';
import { logger } from '../log';
import { datasetKeys, NAME_PATTERN, parseManifest, parsePointer, type Manifest, type Pointer } from './manifest';
import { sha256Of, type ObjectStore } from './objects';

/** A manifest as read from the store, with the sha256 of its bytes. */
export interface ResolvedVersion {
  manifest: Manifest;
  manifestSha256: string;
  bytes: Buffer;
  /** Whether `latest.json` points at it. */
  isLatest: boolean;
  /** How its bytes were checked: against the pointer, against a descendant's parent hash, or not at all. */
  verifiedBy: 'pointer' | 'chain' | 'none';
}

export function checkDatasetName(dataset: string, field = 'dataset'): string {
  if (!NAME_PATTERN.test(dataset)) throw new InputError(field, dataset, 'letters, digits, "_", "." and "-", starting with a letter or digit');
  return dataset;
}

/** Split `D[@VERSION]` as written on the command line. */
export function parseDatasetRef(ref: string, field = 'dataset'): { dataset: string; version?: string } {
  const at = ref.indexOf('@');
  const dataset = at >= 0 ? ref.slice(0, at) : ref;
  const version = at >= 0 ? ref.slice(at + 1) : undefined;
  checkDatasetName(dataset, field);
  if (version !== undefined && version !== 'latest' && !NAME_PATTERN.test(version)) {
    throw new InputError(`${field} version`, version, 'a version id such as v3, or "latest"');
  }
  return version === undefined || version === 'latest' ? { dataset } : { dataset, version };
}

export async function readLatest(store: ObjectStore, dataset: string): Promise<Pointer | null> {
  const key = datasetKeys.latest(dataset);
  const bytes = await store.getKey(key);
  return bytes === null ? null : parsePointer(bytes, `s3://${store.bucket}/${key}`);
}

/** Dataset names in the bucket (those with a latest pointer or at least one version). */
export async function listDatasets(store: ObjectStore): Promise<string[]> {
  const { prefixes } = await store.list('datasets/', '/');
  return prefixes
    .map((p) => p.slice('datasets/'.length, -1))
    .filter((d) => NAME_PATTERN.test(d))
    .sort(naturalCompare);
}

/** Version ids of a dataset, oldest first (v2 before v10). */
export async function listVersionIds(store: ObjectStore, dataset: string): Promise<string[]> {
  const prefix = datasetKeys.versionsPrefix(dataset);
  const { keys } = await store.list(prefix);
  return keys
    .map((k) => k.key.slice(prefix.length))
    .filter((name) => name.endsWith('.json') && !name.includes('/'))
    .map((name) => name.slice(0, -'.json'.length))
    .sort(naturalCompare);
}

export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

async function readManifestBytes(store: ObjectStore, dataset: string, version: string): Promise<Buffer | null> {
  return store.getKey(datasetKeys.manifest(dataset, version));
}

/** How many ancestors a version check walks from `latest` before giving up (each is one GET). */
const MAX_CHAIN = 256;

/**
 * Resolve `dataset[@version]` to a manifest whose bytes were checked: the latest through the
 * pointer's sha256, an older version through the parent hashes recorded along the chain from
 * latest. Unknown dataset or version: NotFoundError listing what exists.
 */
export async function resolveVersion(store: ObjectStore, dataset: string, version?: string): Promise<ResolvedVersion> {
  checkDatasetName(dataset);
  const pointer = await readLatest(store, dataset);
  if (version === undefined) {
    if (!pointer) {
      const datasets = await listDatasets(store);
      throw new NotFoundError(`dataset ${JSON.stringify(dataset)} not found in bucket ${store.bucket} (datasets: ${datasets.join(', ') || 'none'})`);
    }
    version = pointer.version;
  }
  const bytes = await readManifestBytes(store, dataset, version);
  if (bytes === null) {
    const versions = await listVersionIds(store, dataset);
    if (versions.length === 0 && !pointer) {
      const datasets = await listDatasets(store);
      throw new NotFoundError(`dataset ${JSON.stringify(dataset)} not found in bucket ${store.bucket} (datasets: ${datasets.join(', ') || 'none'})`);
    }
    throw new NotFoundError(`version ${JSON.stringify(version)} of dataset ${dataset} not found (versions: ${versions.join(', ') || 'none'})`);
  }
  const where = `s3://${store.bucket}/${datasetKeys.manifest(dataset, version)}`;
  const sha = sha256Of(bytes);
  const isLatest = pointer?.version === version;
  let verifiedBy: ResolvedVersion['verifiedBy'] = 'none';
  if (pointer && isLatest) {
    if (sha !== pointer.manifestSha256) {
      throw new IntegrityError(`${where} hashes to ${sha} but latest.json promises ${pointer.manifestSha256}`);
    }
    verifiedBy = 'pointer';
  } else if (pointer) {
    const expected = await expectedShaFromChain(store, dataset, pointer, version);
    if (expected !== undefined) {
      if (expected !== sha) throw new IntegrityError(`${where} hashes to ${sha} but its child version records ${expected}`);
      verifiedBy = 'chain';
    }
  }
  if (verifiedBy === 'none') logger.debug({ dataset, version }, 'version is not on the chain from latest; manifest hash not checked');
  const manifest = parseManifest(bytes, where);
  if (manifest.dataset !== dataset || manifest.version !== version) {
    throw new IntegrityError(`${where} describes ${manifest.dataset}@${manifest.version}`);
  }
  return { manifest, manifestSha256: sha, bytes, isLatest, verifiedBy };
}

async function expectedShaFromChain(store: ObjectStore, dataset: string, pointer: Pointer, target: string): Promise<string | undefined> {
  let version: string | null = pointer.version;
  let sha = pointer.manifestSha256;
  for (let steps = 0; version !== null && steps < MAX_CHAIN; steps++) {
    if (version === target) return sha;
    const bytes = await readManifestBytes(store, dataset, version);
    if (bytes === null || sha256Of(bytes) !== sha) return undefined;
    const m = parseManifest(bytes, datasetKeys.manifest(dataset, version));
    if (m.parentVersion === null || m.parentManifestSha256 === null) return undefined;
    version = m.parentVersion;
    sha = m.parentManifestSha256;
  }
  return undefined;
}

/** Point `latest` at an existing version (rollback or roll forward). Its files must all be present. */
export async function setLatest(store: ObjectStore, dataset: string, version: string): Promise<Pointer> {
  checkDatasetName(dataset);
  const bytes = await readManifestBytes(store, dataset, version);
  if (bytes === null) {
    const versions = await listVersionIds(store, dataset);
    throw new NotFoundError(`version ${JSON.stringify(version)} of dataset ${dataset} not found (versions: ${versions.join(', ') || 'none'})`);
  }
  const manifest = parseManifest(bytes, datasetKeys.manifest(dataset, version));
  for (const [path, f] of Object.entries(manifest.files)) {
    if (!(await store.hasObject(f.sha256, f.bytes))) {
      throw new IntegrityError(`${dataset}@${version}: file ${path} (object ${f.sha256}) is missing from bucket ${store.bucket}`);
    }
  }
  const pointer: Pointer = { version, manifestSha256: sha256Of(bytes) };
  await store.putKey(datasetKeys.latest(dataset), JSON.stringify(pointer) + '\n');
  logger.info({ dataset, version, manifestSha256: pointer.manifestSha256 }, 'latest moved');
  return pointer;
}
