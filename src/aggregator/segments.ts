import type { ObjectStore } from '../storage/objects';
import type { ResultRow } from '../storage/rows';
import { FormatError } from '../errors';
import { rowOfEntry } from './intake';

/**
 * The aggregator's staging in S3: `builds/<buildId>/segments/<seq>.jsonl`, one ResultRow per line.
 * A segment is written before the stream entries it holds are acknowledged, so a crash loses
 * nothing; entries delivered again are recognised by triple id.
 */
export function segmentsPrefix(buildId: string): string {
  return `builds/${buildId}/segments/`;
}

export function segmentKey(buildId: string, seq: number): string {
  return `${segmentsPrefix(buildId)}${String(seq).padStart(8, '0')}.jsonl`;
}

export async function writeSegment(store: ObjectStore, buildId: string, seq: number, rows: readonly ResultRow[]): Promise<void> {
  await store.putKey(segmentKey(buildId, seq), rows.map((r) => JSON.stringify(r)).join('\n') + '\n', 'application/x-ndjson');
}

/** Every segment of a build, in write order, and the next free sequence number. */
export async function readSegments(store: ObjectStore, buildId: string): Promise<{ rows: ResultRow[]; nextSeq: number }> {
  const { keys } = await store.list(segmentsPrefix(buildId));
  const seqs = keys
    .map((k) => /\/(\d{8})\.jsonl$/.exec(k.key)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const rows: ResultRow[] = [];
  for (const seq of seqs) {
    const key = segmentKey(buildId, seq);
    const body = await store.getKey(key);
    if (body === null) continue;
    for (const [i, line] of body.toString('utf8').split('\n').entries()) {
      if (line.length === 0) continue;
      // Validated as stream entries are (a segment of an older version may hold other fields).
      const { row, rejected } = rowOfEntry(line);
      if (!row) throw new FormatError(key, `line ${i + 1}: ${rejected}`);
      rows.push(row);
    }
  }
  return { rows, nextSeq: seqs.length === 0 ? 0 : seqs[seqs.length - 1]! + 1 };
}
