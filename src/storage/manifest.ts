import { z } from 'zod';
import { COLUMN_PROXIES, MODULE_NAME_PATTERN, SPACES, TASKS } from '../core/names';
import { FormatError } from '../errors';

/** Dataset names, version ids and build ids: safe as S3 key segments and file names. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Name = z.string().regex(NAME_PATTERN);

/**
 * One file of a version. `naslib`: zc_<space>.json in NASLib's layout. `rows`: a part of the
 * Parquet long table (one row per triple, one (space, task) per part). `ground_truth`: Parquet of
 * val_accuracy per (space, task, arch), the source the rows' val_accuracy column is joined from.
 */
export const FileEntrySchema = z
  .object({
    sha256: Sha256,
    bytes: z.number().int().nonnegative(),
    rows: z.number().int().nonnegative(),
    format: z.enum(['naslib-json', 'parquet']),
    kind: z.enum(['naslib', 'rows', 'ground_truth']),
    space: z.enum(SPACES),
    /** Parts of the long table hold one task. */
    task: z.enum(TASKS).optional(),
  })
  .strict();
export type FileEntry = z.infer<typeof FileEntrySchema>;

/** Triples of one (space, task, proxy): how many were expected, how many ended ok or failed. */
export const CoverageEntrySchema = z
  .object({
    space: z.enum(SPACES),
    task: z.enum(TASKS),
    proxy: z.union([z.enum(COLUMN_PROXIES), z.string().regex(MODULE_NAME_PATTERN)]),
    expected: z.number().int().nonnegative(),
    ok: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    /** Failed cells counted by their reason. */
    failedByReason: z.record(z.string(), z.number().int().positive()),
  })
  .strict();
export type CoverageEntry = z.infer<typeof CoverageEntrySchema>;

/** A user proxy module whose rows a version holds: its column, the file it was built from, its bundle's sha256 (`plugins/<sha256>.js`). */
export const ModuleEntrySchema = z.object({ name: z.string().regex(MODULE_NAME_PATTERN), file: z.string().min(1), sha256: Sha256 }).strict();
export type ModuleEntry = z.infer<typeof ModuleEntrySchema>;

export const MANIFEST_SCHEMA_VERSION = 1;

export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    dataset: Name,
    version: Name,
    /** The version whose rows this one carries forward, if any. */
    parentVersion: Name.nullable(),
    /** sha256 of the parent's manifest: a chain of trust from `latest` back through history. */
    parentManifestSha256: Sha256.nullable(),
    buildId: Name,
    createdAt: z.string().datetime(),
    /** The build's compute fingerprint (src/version.ts), or `naslib` for imported tables. */
    fingerprint: z.string().min(1).optional(),
    /** Fingerprints, backends, batch sizes and seeds found in the rows (the parent's included). */
    rowFingerprints: z.array(z.string()).optional(),
    /** What the build reused of its parent: rows of the same fingerprint only (`same-code`), or of any (`any-code`). */
    reuse: z.enum(['same-code', 'any-code']).optional(),
    /** Before the fingerprint (schema of older manifests): the package version, and the rows' ones. */
    codeVersion: z.string().min(1).optional(),
    rowCodeVersions: z.array(z.string()).optional(),
    backends: z.array(z.string()),
    batchSizes: z.array(z.number().int().nonnegative()),
    seeds: z.array(z.number().int()),
    /** Minibatch sources or imported files, with the sha256 of their bytes. */
    dataSources: z.array(z.object({ source: z.string(), sha256: z.string() }).strict()),
    /** User proxy modules of the rows (the parent's included), by column name. */
    modules: z.array(ModuleEntrySchema).optional(),
    /** The build spec, as the producer received it. */
    spec: z.unknown().optional(),
    rowCount: z.number().int().nonnegative(),
    coverage: z.array(CoverageEntrySchema),
    /** Path inside the version (what `pull` writes under --out) → content. */
    files: z.record(z.string(), FileEntrySchema),
  })
  .strict();
export type Manifest = z.infer<typeof ManifestSchema>;

/** The fingerprints of a manifest's rows (an older manifest's code versions). */
export function rowFingerprintsOf(m: Manifest): string[] {
  return m.rowFingerprints ?? m.rowCodeVersions ?? [];
}

/** `datasets/<d>/latest.json`: the only mutable key. */
export const PointerSchema = z.object({ version: Name, manifestSha256: Sha256 }).strict();
export type Pointer = z.infer<typeof PointerSchema>;

/** JSON bytes read against `schema`; a FormatError naming `where`, `what` it should be and the first issue. */
function parseJsonAs<T>(schema: z.ZodType<T>, bytes: Uint8Array, where: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new FormatError(where, `not JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FormatError(where, `not ${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  return parseJsonAs(ManifestSchema, bytes, where, 'a zcbench manifest');
}

export function parsePointer(bytes: Uint8Array, where: string): Pointer {
  return parseJsonAs(PointerSchema, bytes, where, 'a dataset pointer');
}

/** Manifest bytes as stored: stable key order, so the same manifest always hashes the same. */
export function serializeManifest(m: Manifest): string {
  return JSON.stringify(sortKeys(m), null, 1) + '\n';
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** S3 keys of a dataset. */
export const datasetKeys = {
  latest: (dataset: string) => `datasets/${dataset}/latest.json`,
  manifest: (dataset: string, version: string) => `datasets/${dataset}/versions/${version}.json`,
  /** The version's dataset card (README.md of a pull), written with its manifest. */
  card: (dataset: string, version: string) => `datasets/${dataset}/cards/${version}.md`,
  versionsPrefix: (dataset: string) => `datasets/${dataset}/versions/`,
  /** buildId → version, written before the manifest so a re-run of a build reuses its version id. */
  build: (dataset: string, buildId: string) => `datasets/${dataset}/builds/${buildId}.json`,
  /** version → buildId: a number taken by a build before its manifest exists, so no other build takes it. */
  reservation: (dataset: string, version: string) => `datasets/${dataset}/reservations/${version}.json`,
  reservationsPrefix: (dataset: string) => `datasets/${dataset}/reservations/`,
};
