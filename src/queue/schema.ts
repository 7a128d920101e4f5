import { z } from 'zod';
import { PROXIES, SPACES, TASKS } from '../core/names';
import type { DataSpec } from '../core/types';

/** Where a job's minibatch comes from (src/core/types.ts DataSpec). */
export const DataSpecSchema: z.ZodType<DataSpec> = z.discriminatedUnion('source', [
  z.object({ source: z.literal('synthetic') }).strict(),
  z.object({ source: z.literal('path'), path: z.string().min(1) }).strict(),
]);

export const BUILD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * One queue message: the triples of one (arch, task, seed), or a single triple. Workers validate
 * every message with this schema; a message that does not match fails once, naming the field.
 */
export const JobPayloadSchema = z
  .object({
    buildId: z.string().regex(BUILD_ID_PATTERN),
    dataset: z.string().min(1),
    space: z.enum(SPACES),
    task: z.enum(TASKS),
    arch: z.string().min(1),
    proxies: z.array(z.enum(PROXIES)).min(1),
    /**
     * proxy → triple id. Optional: absent, workers derive the ids from the fields above (src/queue/ids.ts
     * `tripleIdsOf`); the producer leaves them out, which keeps a waiting message about 600 bytes smaller.
     */
    tripleIds: z.record(z.string(), z.string().min(1)).optional(),
    seed: z.number().int().nonnegative(),
    /** The requested batch size (part of the triple ids). */
    batchSize: z.number().int().positive(),
    data: DataSpecSchema,
    codeVersion: z.string().min(1),
    /** Why the job moved between pools, oldest first (set by workers, for logs and rows' reasons). */
    route: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.tripleIds) checkTripleIds(p.proxies, p.tripleIds, ctx);
    if (new Set(p.proxies).size !== p.proxies.length) ctx.addIssue({ code: 'custom', path: ['proxies'], message: 'duplicate proxy' });
  });

function checkTripleIds(proxies: readonly string[], tripleIds: Record<string, string>, ctx: z.RefinementCtx): void {
  for (const proxy of proxies) {
    if (!(proxy in tripleIds)) ctx.addIssue({ code: 'custom', path: ['tripleIds', proxy], message: 'missing triple id' });
  }
  for (const key of Object.keys(tripleIds)) {
    if (!proxies.includes(key)) ctx.addIssue({ code: 'custom', path: ['tripleIds', key], message: 'not in proxies' });
  }
}

export type JobPayload = z.infer<typeof JobPayloadSchema>;

/** A zod issue as one line: `field: message`. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  return `${field}: ${issue.message}`;
}
