import { createHash } from 'crypto';
import type { ProxyName, SpaceName, TaskName } from '../core/names';
import type { JobPayload } from './schema';

/** What identifies a triple's result: change any of these and it is a different result. */
export interface TripleKey {
  dataset: string;
  space: SpaceName;
  task: TaskName;
  /** Canonical architecture string (the space's `format(parse(arch))`). */
  arch: string;
  proxy: ProxyName;
  seed: number;
  batchSize: number;
  codeVersion: string;
}

/** Deterministic triple id: 128 bits of sha256 over the key's fields, hex. */
export function tripleId(k: TripleKey): string {
  const text = JSON.stringify([k.dataset, k.space, k.task, k.arch, k.proxy, k.seed, k.batchSize, k.codeVersion]);
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/**
 * Job id of a message: a hash of its triple ids, so enqueueing the same triples again is a no-op.
 * The `z` keeps it from ever being all digits (BullMQ rejects integer ids).
 */
export function jobIdOf(tripleIds: readonly string[]): string {
  const h = createHash('sha256');
  for (const id of [...tripleIds].sort()) h.update(id).update('\n');
  return 'z' + h.digest('hex').slice(0, 32);
}

/** The triple ids (proxy → id) of one architecture of a message: as it carries them, or derived from its fields. */
export function tripleIdsOf(p: JobPayload, arch: string): Record<string, string> {
  if (p.tripleIds && arch === p.arch) return p.tripleIds;
  return Object.fromEntries(
    p.proxies.map((proxy) => [proxy, tripleId({ dataset: p.dataset, space: p.space, task: p.task, arch, proxy, seed: p.seed, batchSize: p.batchSize, codeVersion: p.codeVersion })]),
  );
}
