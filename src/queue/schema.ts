import { z } from 'zod';
import { SHAPE_ONLY_PROXIES } from '../core/proxies';
import { BUILT_IN_PROXIES, isBuiltInColumn, MODULE_NAME_PATTERN, proxiesForTask, SPACES, TASKS, type BuiltInProxyName } from '../core/names';
import type { DataSpec } from '../core/types';

/** Where a job's minibatch comes from (src/core/types.ts DataSpec). */
export const DataSpecSchema: z.ZodType<DataSpec> = z.discriminatedUnion('source', [
  z.object({ source: z.literal('synthetic') }).strict(),
  z.object({ source: z.literal('path'), path: z.string().min(1) }).strict(),
  z.object({ source: z.literal('dataset'), dataset: z.string().min(1) }).strict(),
  z
    .object({
      source: z.literal('minibatch'),
      dataset: z.string().min(1),
      minibatch: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().positive() }).strict(),
      second: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().positive() }).strict(),
      path: z.string().min(1).optional(),
      secondPath: z.string().min(1).optional(),
    })
    .strict(),
]);

export const BUILD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Proxies the core computes from the network's shape trace alone (derived from each proxy's
 * `reads`): a worker computes them in its own process, and one message may carry many of them.
 */
export { SHAPE_ONLY_PROXIES };

export function isShapeOnly(proxies: readonly BuiltInProxyName[]): boolean {
  return proxies.every((p) => SHAPE_ONLY_PROXIES.has(p));
}

/** Architectures per message of shape-only proxies: each costs a fraction of a millisecond, a message more. */
export const MAX_ARCHS_PER_MESSAGE = 200;

/**
 * One queue message: the triples of one (arch, task, seed) (`arch`), or of several architectures
 * for shape-only proxies (`archs`), or a single triple. Workers validate every message with this
 * schema; a message that does not match fails once, naming the field.
 */
export const JobPayloadSchema = z
  .object({
    buildId: z.string().regex(BUILD_ID_PATTERN),
    dataset: z.string().min(1),
    space: z.enum(SPACES),
    task: z.enum(TASKS),
    arch: z.string().min(1).optional(),
    /** Instead of `arch`: several architectures, for shape-only proxies only. */
    archs: z.array(z.string().min(1)).min(1).max(MAX_ARCHS_PER_MESSAGE).optional(),
    /** Built-in proxies (az_nas's parts as their own names; the combined score is made at publish time). */
    proxies: z.array(z.enum(BUILT_IN_PROXIES)),
    /**
     * User proxy modules (docs/writing-a-proxy.md), each its own column, computed with `proxies` on
     * the same network build; a worker fetches `plugins/<sha256>.js`, and runs it only when
     * ZC_ALLOW_PROXY_MODULES=1. Only with `arch`.
     */
    modules: z
      .array(
        z
          .object({
            name: z.string().regex(MODULE_NAME_PATTERN),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
          })
          .strict(),
      )
      .min(1)
      .optional(),
    /**
     * column (proxy or module name) → triple id of an `arch` message. Optional: absent, workers
     * derive the ids from the fields above (src/queue/ids.ts `tripleIdsOf`); the producer leaves
     * them out, which keeps a waiting message about 600 bytes smaller.
     */
    tripleIds: z.record(z.string(), z.string().min(1)).optional(),
    seed: z.number().int().nonnegative(),
    /** The requested batch size (part of the triple ids). */
    batchSize: z.number().int().positive(),
    data: DataSpecSchema,
    /** The build's compute fingerprint (src/version.ts): a worker with another one refuses the job. */
    fingerprint: z.string().min(1),
    /** The identity of the task's data (src/core/data `dataIdentity`): part of the triple ids of proxies that read data. */
    dataId: z.string().min(1),
    /** Why the job moved between pools, oldest first (set by workers, for logs and rows' reasons). */
    route: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if ((p.arch === undefined) === (p.archs === undefined)) ctx.addIssue({ code: 'custom', path: ['arch'], message: 'exactly one of arch and archs' });
    if (p.archs && !isShapeOnly(p.proxies)) {
      ctx.addIssue({ code: 'custom', path: ['archs'], message: `only for shape-only proxies (${[...SHAPE_ONLY_PROXIES].join(', ')})` });
    }
    if (p.archs && p.tripleIds) ctx.addIssue({ code: 'custom', path: ['tripleIds'], message: 'only with arch' });
    if (p.proxies.length === 0 && !p.modules) ctx.addIssue({ code: 'custom', path: ['proxies'], message: 'at least one proxy or module' });
    if (p.archs && p.modules) ctx.addIssue({ code: 'custom', path: ['modules'], message: 'only with arch' });
    const moduleNames = (p.modules ?? []).map((m) => m.name);
    if (new Set(moduleNames).size !== moduleNames.length) ctx.addIssue({ code: 'custom', path: ['modules'], message: 'duplicate module name' });
    moduleNames.forEach((name, i) => {
      if (isBuiltInColumn(name)) ctx.addIssue({ code: 'custom', path: ['modules', i, 'name'], message: 'not a built-in proxy name' });
    });
    if (p.tripleIds) checkTripleIds([...p.proxies, ...moduleNames], p.tripleIds, ctx);
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

/**
 * The proxies a message's memory is planned for: its own, and with user modules every proxy of the
 * paper's too (a module may use any pass; theirs cover them).
 */
export function plannedProxies(p: JobPayload): BuiltInProxyName[] {
  return p.modules ? [...new Set([...p.proxies, ...proxiesForTask(p.task)])] : p.proxies;
}

/** The architectures of a message. */
export function archsOf(p: JobPayload): string[] {
  return p.archs ?? [p.arch!];
}

/** A zod issue as one line: `field: message`. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  return `${field}: ${issue.message}`;
}
