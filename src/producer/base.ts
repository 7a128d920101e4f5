import { openDataset } from '../storage/dataset';
import type { StoreOptions } from '../storage/store';

/**
 * Triple ids of the `ok` rows of a published version: the triples an incremental build on top of
 * it does not compute again. Read through src/storage (manifest, then verified Parquet parts).
 */
export async function baseTripleIds(storeOpts: StoreOptions & { bucket: string }, dataset: string, version: string): Promise<Set<string>> {
  const ds = await openDataset(`s3://${storeOpts.bucket}/${dataset}`, version, storeOpts);
  const ids = new Set<string>();
  for (const row of ds.filter({})) if (row.status === 'ok') ids.add(row.tripleId);
  return ids;
}
