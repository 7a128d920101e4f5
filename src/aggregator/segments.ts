import type { ObjectStore } from '../storage/objects';
import type { ResultRow } from '../storage/rows';
import { FormatError } from '../errors';
import { rowOfEntry } from './intake';

/**
 * The aggregator's staging in S3: `builds/<buildId>/segments/<token>-<seq>.jsonl`, one ResultRow per
 * line. `token` is the build lock's fencing token of the owner that wrote it, so two owners never
 * write the same key; `seq` counts that owner's segments. A segment is written before the stream
 * entries it holds are acknowledged, so a crash loses nothing; entries delivered again are
 * recognised by triple id. Keys of the older layout (`<seq>.jsonl`) are read as token 0.
 */
export function segmentsPrefix(buildId: string): string {
  return `builds/${buildId}/segments/`;
}

export function segmentKey(buildId: string, token: number, seq: number): string {
  return `${segmentsPrefix(buildId)}${String(token).padStart(10, '0')}-${String(seq).padStart(6, '0')}.jsonl`;
}

const SEGMENT_NAME = /\/(?:(\d{10})-)?(\d{6,8})\.jsonl$/;

export async function writeSegment(store: ObjectStore, key: string, rows: readonly ResultRow[]): Promise<void> {
  await store.putKey(key, rows.map((r) => JSON.stringify(r)).join('\n') + '\n', 'application/x-ndjson');
}

export interface StoredSegments {
  rows: ResultRow[];
  keys: string[];
  /** The largest fencing token among the segments' writers (0 when none). */
  maxToken: number;
}

/** Every segment of a build, oldest writer first (the store's listing is the record: Redis may have lost its own). */
export async function readSegments(store: ObjectStore, buildId: string): Promise<StoredSegments> {
  const { keys: listed } = await store.list(segmentsPrefix(buildId));
  const named = listed
    .map((k) => ({ key: k.key, m: SEGMENT_NAME.exec(k.key) }))
    .filter((s): s is { key: string; m: RegExpExecArray } => s.m !== null)
    .map((s) => ({ key: s.key, token: Number(s.m[1] ?? 0), seq: Number(s.m[2]) }))
    .sort((a, b) => a.token - b.token || a.seq - b.seq);
  const rows: ResultRow[] = [];
  for (const { key } of named) {
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
  return { rows, keys: named.map((s) => s.key), maxToken: named.reduce((m, s) => Math.max(m, s.token), 0) };
}

/** Triple ids the build's segments already hold a row for: what a resumed build need not compute again. */
export async function storedTripleIds(store: ObjectStore, buildId: string): Promise<Set<string>> {
  return new Set((await readSegments(store, buildId)).rows.map((r) => r.tripleId));
}
