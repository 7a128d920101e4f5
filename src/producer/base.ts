import { openDataset } from '../storage/dataset';
import type { StoreOptions } from '../storage/store';
import type { BaseVersion } from './producer';

/**
 * The `ok` rows of a published version (their triple ids, fingerprints, module columns): the triples an
 * incremental build on top of it does not compute again. Read through src/storage (manifest,
 * then verified Parquet parts).
 */
export async function readBaseVersion(storeOpts: StoreOptions & { bucket: string }, dataset: string, version: string): Promise<BaseVersion> {
  const ds = await openDataset(`s3://${storeOpts.bucket}/${dataset}`, version, storeOpts);
  const tripleIds = new Set<string>();
  const fingerprints = new Set<string>();
  const modules = new Map<string, Set<string>>();
  for (const row of ds.filter({})) {
    if (row.status !== 'ok') continue;
    tripleIds.add(row.tripleId);
    fingerprints.add(row.fingerprint);
    if (row.module !== undefined) {
      let shas = modules.get(row.proxy);
      if (!shas) modules.set(row.proxy, (shas = new Set()));
      shas.add(row.module);
    }
  }
  return { tripleIds, fingerprints: [...fingerprints].sort(), modules };
}
