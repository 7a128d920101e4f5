/**
 * The chaos run's verdict: the published version's long table (its Parquet parts, read and
 * verified through the store as `pull` does) against the fault-free build's, triple by triple.
 */
import type { ObjectStore } from '../../src/storage/objects';
import { decodeRowsParquet, type StoredRow } from '../../src/storage/parquet';
import { resolveVersion } from '../../src/storage/versions';

export interface PublishedRows {
  dataset: string;
  version: string;
  rows: StoredRow[];
}

/** Every row of the dataset's latest version (its `rows` files, sha256-verified). */
export async function readPublished(store: ObjectStore, dataset: string): Promise<PublishedRows> {
  const { manifest } = await resolveVersion(store, dataset);
  const rows: StoredRow[] = [];
  for (const [path, f] of Object.entries(manifest.files)) {
    if (f.kind === 'rows') rows.push(...(await decodeRowsParquet(await store.getVerified(f.sha256), path)));
  }
  return { dataset, version: manifest.version, rows };
}

export interface HalvedTriple {
  tripleId: string;
  dataset: string;
  arch: string;
  proxy: string;
  batchSize: number;
  chaosBatchSize: number;
  score: number | null;
  chaosScore: number | null;
}

export interface Mismatch {
  tripleId: string;
  dataset: string;
  arch: string;
  proxy: string;
  what: string;
}

export interface Comparison {
  /** Triples of the fault-free version missing from the chaos version. */
  lost: number;
  /** Rows beyond the first per triple id in the chaos version's Parquet. */
  duplicated: number;
  /** Triples the chaos version holds that the fault-free one does not. */
  extra: number;
  /** Triples computed at the same batch size in both, and how many of those are bit-identical (status and score). */
  sameBatch: number;
  bitIdentical: number;
  halvedBatch: HalvedTriple[];
  mismatches: Mismatch[];
  /** No triple lost, none duplicated or extra, and every same-batch triple bit-identical. */
  identical: boolean;
}

/** The score's IEEE-754 bits (so -0, NaN payloads and ±∞ compare exactly too). */
function bits(x: number | null): string {
  if (x === null) return 'null';
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return b.toString('hex');
}

function countIds(rows: readonly StoredRow[]): Map<string, StoredRow[]> {
  const byId = new Map<string, StoredRow[]>();
  for (const r of rows) {
    const list = byId.get(r.tripleId);
    if (list) list.push(r);
    else byId.set(r.tripleId, [r]);
  }
  return byId;
}

export function compareVersions(faultFree: readonly PublishedRows[], chaos: readonly PublishedRows[]): Comparison {
  const c: Comparison = { lost: 0, duplicated: 0, extra: 0, sameBatch: 0, bitIdentical: 0, halvedBatch: [], mismatches: [], identical: false };
  for (const ff of faultFree) {
    const other = chaos.find((p) => p.dataset === ff.dataset);
    const theirs = countIds(other?.rows ?? []);
    const ours = countIds(ff.rows);
    for (const rows of theirs.values()) c.duplicated += rows.length - 1;
    for (const id of theirs.keys()) if (!ours.has(id)) c.extra++;
    for (const [id, [want]] of ours as Map<string, [StoredRow]>) {
      const got = theirs.get(id)?.[0];
      if (!got) {
        c.lost++;
        continue;
      }
      const where = { tripleId: id, dataset: ff.dataset, arch: want.arch, proxy: want.proxy };
      if (got.batchSize !== want.batchSize && got.status === 'ok') {
        c.halvedBatch.push({ ...where, batchSize: want.batchSize, chaosBatchSize: got.batchSize, score: want.score, chaosScore: got.score });
        continue;
      }
      c.sameBatch++;
      if (got.status === want.status && bits(got.score) === bits(want.score)) c.bitIdentical++;
      else
        c.mismatches.push({
          ...where,
          what: `status ${want.status} → ${got.status}, score ${want.score} → ${got.score}${got.reason ? ` (${got.reason})` : ''}`,
        });
    }
  }
  c.identical = c.lost === 0 && c.duplicated === 0 && c.extra === 0 && c.mismatches.length === 0;
  return c;
}
