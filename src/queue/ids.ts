import { createHash } from 'crypto';
import { AZ_NAS, isBuiltInColumn, type BuiltInProxyName, type ColumnName, type SpaceName, type TaskName } from '../core/names';
import { proxyReadsData } from '../core/proxies';
import type { JobPayload } from './schema';

/** What identifies a triple's result: change any of these and it is a different result. */
export interface TripleKey {
  dataset: string;
  space: SpaceName;
  task: TaskName;
  /** Canonical architecture string (the space's `format(parse(arch))`). */
  arch: string;
  proxy: ColumnName;
  seed: number;
  batchSize: number;
  /** The compute fingerprint (src/version.ts). */
  fingerprint: string;
  /** The data's identity (`dataIdentity`), or `none` for a proxy that reads no data (see `tripleDataId`). */
  data: string;
  /** A user module's column: the sha256 of its bundle (another module under the same name is another result). */
  module?: string;
}

/** Deterministic triple id: 128 bits of sha256 over the key's fields, hex. */
export function tripleId(k: TripleKey): string {
  const fields: unknown[] = [k.dataset, k.space, k.task, k.arch, k.proxy, k.seed, k.batchSize, k.fingerprint, k.data];
  // Only modules' keys have the field: built-in triple ids stay what they were.
  if (k.module !== undefined) fields.push(k.module);
  const text = JSON.stringify(fields);
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/**
 * The data part of a triple's key: the task's data identity for a proxy that reads data, else `none`
 * (one id across sources). az_nas, combined from parts that read data, reads data; so does a user
 * module's column (what it reads is known only by running its code, which the ids must not need).
 */
export function tripleDataId(proxy: ColumnName, dataId: string): string {
  if (proxy === AZ_NAS || !isBuiltInColumn(proxy)) return dataId;
  return proxyReadsData(proxy as BuiltInProxyName) ? dataId : 'none';
}

/**
 * Job id of a message: a hash of its build id and triple ids, so enqueueing the same build's
 * triples again is a no-op, while another build of the same triples (a repair) gets jobs of its own
 * (BullMQ answers an id it still holds, e.g. a failed job kept a week, with that old job).
 * The `z` keeps it from ever being all digits (BullMQ rejects integer ids).
 */
export function jobIdOf(buildId: string, tripleIds: readonly string[]): string {
  const h = createHash('sha256').update(buildId).update('\n');
  for (const id of [...tripleIds].sort()) h.update(id).update('\n');
  return 'z' + h.digest('hex').slice(0, 32);
}

/**
 * The triple ids (column → id) of one architecture of a message, its built-in proxies' and its
 * modules': as it carries them, or derived from its fields.
 */
export function tripleIdsOf(p: JobPayload, arch: string): Record<string, string> {
  if (p.tripleIds && arch === p.arch) return p.tripleIds;
  const key = (proxy: string, module?: string): TripleKey => ({
    dataset: p.dataset,
    space: p.space,
    task: p.task,
    arch,
    proxy,
    seed: p.seed,
    batchSize: p.batchSize,
    fingerprint: p.fingerprint,
    data: tripleDataId(proxy, p.dataId),
    ...(module !== undefined ? { module } : {}),
  });
  return Object.fromEntries([
    ...p.proxies.map((proxy) => [proxy, tripleId(key(proxy))]),
    ...(p.modules ?? []).map((m) => [m.name, tripleId(key(m.name, m.sha256))]),
  ]);
}
