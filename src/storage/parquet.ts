import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { isBuiltInColumn, MODULE_NAME_PATTERN, parseProxy, parseSpace, parseTask } from '../core/names';
import { readableArch } from '../core/spaces';
import { FormatError } from '../errors';
import { PACKAGE_VERSION } from '../version';
import type { GroundTruthRow, ResultRow } from './rows';

/** A row of the long table: a triple's outcome plus the architecture's val_accuracy when known. */
export interface StoredRow extends ResultRow {
  valAccuracy: number | null;
}

const ROWS_SCHEMA = 'zcbench.rows/2';
/** Before the compute fingerprint: its column was `codeVersion` (read as the fingerprint). */
const ROWS_SCHEMA_V1 = 'zcbench.rows/1';
const GROUND_TRUTH_SCHEMA = 'zcbench.ground_truth/1';
export const SCHEMA_KEY = 'zcbench.schema';

/**
 * The long table's columns: ResultRow's fields under their own names, plus NASLib's
 * `val_accuracy` and the space's readable form of the architecture (`arch_readable`, written,
 * never read back). seed is INT64 (any safe integer), batchSize INT32.
 */
export const ROW_COLUMNS = [
  'tripleId',
  'space',
  'task',
  'arch',
  'arch_readable',
  'proxy',
  'module',
  'seed',
  'batchSize',
  'status',
  'score',
  'time',
  'reason',
  'backend',
  'dataSource',
  'dataSha256',
  'fingerprint',
  'archIdx',
  'val_accuracy',
] as const;

function str(name: string, data: (string | null)[], nullable = false): ColumnSource {
  return { name, data, type: 'STRING', nullable };
}

export function encodeRowsParquet(rows: readonly StoredRow[]): Uint8Array {
  const col = <T>(f: (r: StoredRow) => T): T[] => rows.map(f);
  const readable = new Map<string, string | null>();
  const readableOf = (r: StoredRow): string | null => {
    const key = `${r.space}/${r.task}/${r.arch}`;
    let v = readable.get(key);
    if (v === undefined) readable.set(key, (v = readableArch(r.space, r.arch, r.task) ?? null));
    return v;
  };
  const buffer = parquetWriteBuffer({
    columnData: [
      str(
        'tripleId',
        col((r) => r.tripleId),
      ),
      str(
        'space',
        col((r) => r.space),
      ),
      str(
        'task',
        col((r) => r.task),
      ),
      str(
        'arch',
        col((r) => r.arch),
      ),
      str('arch_readable', col(readableOf), true),
      str(
        'proxy',
        col((r) => r.proxy),
      ),
      str(
        'module',
        col((r) => r.module ?? null),
        true,
      ),
      { name: 'seed', data: col((r) => BigInt(r.seed)), type: 'INT64', nullable: false },
      { name: 'batchSize', data: col((r) => r.batchSize), type: 'INT32', nullable: false },
      str(
        'status',
        col((r) => r.status),
      ),
      { name: 'score', data: col((r) => r.score), type: 'DOUBLE' },
      { name: 'time', data: col((r) => r.time), type: 'DOUBLE' },
      str(
        'reason',
        col((r) => r.reason ?? null),
        true,
      ),
      str(
        'backend',
        col((r) => r.backend),
      ),
      str(
        'dataSource',
        col((r) => r.dataSource),
      ),
      str(
        'dataSha256',
        col((r) => r.dataSha256),
      ),
      str(
        'fingerprint',
        col((r) => r.fingerprint),
      ),
      str(
        'archIdx',
        col((r) => r.archIdx ?? null),
        true,
      ),
      { name: 'val_accuracy', data: col((r) => r.valAccuracy), type: 'DOUBLE' },
    ],
    kvMetadata: [{ key: SCHEMA_KEY, value: ROWS_SCHEMA }],
    createdBy: `zcbench ${PACKAGE_VERSION}`,
  });
  return new Uint8Array(buffer);
}

export function encodeGroundTruthParquet(rows: readonly GroundTruthRow[]): Uint8Array {
  const buffer = parquetWriteBuffer({
    columnData: [
      str(
        'space',
        rows.map((r) => r.space),
      ),
      str(
        'task',
        rows.map((r) => r.task),
      ),
      str(
        'arch',
        rows.map((r) => r.arch),
      ),
      { name: 'val_accuracy', data: rows.map((r) => r.valAccuracy), type: 'DOUBLE', nullable: false },
      str(
        'origin',
        rows.map((r) => r.origin),
      ),
    ],
    kvMetadata: [{ key: SCHEMA_KEY, value: GROUND_TRUTH_SCHEMA }],
    createdBy: `zcbench ${PACKAGE_VERSION}`,
  });
  return new Uint8Array(buffer);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function readObjects(bytes: Uint8Array, expectedSchema: string | readonly string[], where: string): Promise<Record<string, unknown>[]> {
  const file = toArrayBuffer(bytes);
  let schema: string | undefined;
  try {
    schema = parquetMetadata(file).key_value_metadata?.find((kv) => kv.key === SCHEMA_KEY)?.value;
  } catch (err) {
    throw new FormatError(where, `not a Parquet file: ${(err as Error).message}`);
  }
  const accepted = typeof expectedSchema === 'string' ? [expectedSchema] : expectedSchema;
  if (schema === undefined || !accepted.includes(schema))
    throw new FormatError(where, `Parquet schema ${JSON.stringify(schema)}, expected ${accepted.join(' or ')}`);
  return (await parquetReadObjects({ file })) as Record<string, unknown>[];
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function parseStatus(v: unknown, where: string): 'ok' | 'failed' {
  if (v === 'ok' || v === 'failed') return v;
  throw new FormatError(where, `status ${JSON.stringify(v)} is neither "ok" nor "failed"`);
}

/** A row's column: a built-in's, or a module's name when the row names the module's sha256. */
function columnOf(o: Record<string, unknown>, where: string): string {
  const proxy = String(o.proxy);
  if (o.module === null || o.module === undefined || isBuiltInColumn(proxy)) return parseProxy(proxy);
  if (!MODULE_NAME_PATTERN.test(proxy)) throw new FormatError(where, `module column ${JSON.stringify(proxy)} does not match ${MODULE_NAME_PATTERN}`);
  return proxy;
}

export async function decodeRowsParquet(bytes: Uint8Array, where: string): Promise<StoredRow[]> {
  const objects = await readObjects(bytes, [ROWS_SCHEMA, ROWS_SCHEMA_V1], where);
  return objects.map((o) => {
    const row: StoredRow = {
      tripleId: String(o.tripleId),
      space: parseSpace(String(o.space)),
      task: parseTask(String(o.task)),
      arch: String(o.arch),
      proxy: columnOf(o, where),
      seed: Number(o.seed),
      batchSize: Number(o.batchSize),
      status: parseStatus(o.status, where),
      score: numOrNull(o.score),
      time: numOrNull(o.time),
      backend: String(o.backend),
      dataSource: String(o.dataSource),
      dataSha256: String(o.dataSha256),
      fingerprint: String(o.fingerprint ?? o.codeVersion),
      valAccuracy: numOrNull(o.val_accuracy),
    };
    if (o.reason !== null && o.reason !== undefined) row.reason = String(o.reason);
    if (o.archIdx !== null && o.archIdx !== undefined) row.archIdx = String(o.archIdx);
    if (o.module !== null && o.module !== undefined) row.module = String(o.module);
    return row;
  });
}

export async function decodeGroundTruthParquet(bytes: Uint8Array, where: string): Promise<GroundTruthRow[]> {
  const objects = await readObjects(bytes, GROUND_TRUTH_SCHEMA, where);
  return objects.map((o) => ({
    space: parseSpace(String(o.space)),
    task: parseTask(String(o.task)),
    arch: String(o.arch),
    valAccuracy: Number(o.val_accuracy),
    origin: String(o.origin),
  }));
}
