import type { z } from 'zod';
import { describeIssue } from '../queue/schema';
import { ResultRowSchema, type ResultRow } from '../storage/rows';

/**
 * What the aggregator makes of one results-stream entry (or segment line): the row when it is a
 * valid ResultRow; else, when the triple's identity fields can be read, a `failed` row for that
 * triple whose reason names the offending field; else no row. `rejected` says why it was not taken as is.
 */
export type Intake = { row: ResultRow; rejected?: undefined } | { row: ResultRow | null; rejected: string };

export function rowOfEntry(text: string | undefined): Intake {
  let json: unknown;
  try {
    json = JSON.parse(text ?? '');
  } catch (err) {
    return { row: null, rejected: `not JSON: ${(err as Error).message}` };
  }
  const parsed = ResultRowSchema.safeParse(json);
  if (parsed.success) return { row: parsed.data };
  const rejected = `malformed result row: ${issueText(parsed.error.issues[0]!)}`;
  return { row: failedRowFor(json, rejected), rejected };
}

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} is not a ResultRow field`;
  return describeIssue(issue);
}

/** A failed row keeping the bad row's identity (triple id, space, task, arch, proxy, seed, batch size), or null when those are unreadable. */
function failedRowFor(json: unknown, reason: string): ResultRow | null {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return null;
  const o = json as Record<string, unknown>;
  const text = (v: unknown, otherwise: string) => (typeof v === 'string' && v.length > 0 ? v : otherwise);
  const candidate = {
    tripleId: o.tripleId,
    space: o.space,
    task: o.task,
    arch: o.arch,
    proxy: o.proxy,
    seed: o.seed,
    batchSize: o.batchSize,
    status: 'failed',
    score: null,
    time: null,
    reason,
    backend: 'none',
    dataSource: text(o.dataSource, 'unknown'),
    dataSha256: typeof o.dataSha256 === 'string' ? o.dataSha256 : '',
    fingerprint: text(o.fingerprint, 'unknown'),
  };
  const parsed = ResultRowSchema.safeParse(candidate);
  return parsed.success ? parsed.data : null;
}
