import { openDataset } from '../storage/dataset';
import type { StoreOptions } from '../storage/store';
import type { BaseVersion } from './producer';

/**
 * The `ok` rows of a published version (their triple ids and fingerprints): the triples an
 * incremental build on top of it does not compute again. Read through src/storage (manifest,
 * then verified Parquet parts).
 */
export async function readBaseVersion(storeOpts: StoreOptions & { bucket: string }, dataset: string, version: string): Promise<BaseVersion> {
  const ds = await openDataset(`s3://${storeOpts.bucket}/${dataset}`, version, storeOpts);
  const tripleIds = new Set<string>();
  const fingerprints = new Set<string>();
  for (const row of ds.filter({})) {
    if (row.status !== 'ok') continue;
    tripleIds.add(row.tripleId);
    fingerprints.add(row.fingerprint);
  }
  return { tripleIds, fingerprints: [...fingerprints].sort() };
}
