import type { Pool } from './names';

/** A tensor job's memory plan at one batch size (`planJobMemory`). */
export interface PlannedMemory {
  needed: number;
  recompute: 'auto' | 'always';
}

export type MemoryRoute =
  | { kind: 'run'; batchSize: number; recompute: 'auto' | 'always'; halved: boolean }
  | { kind: 'move-to-heavy'; reason: string }
  | { kind: 'fail'; reason: string };

export function mb(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/**
 * Where a tensor job runs, given its plan at the requested batch size (which already recomputes
 * segments when that makes it fit): within the pool's budget, here; over the light budget, on the
 * heavy pool; over the heavy budget, here at half the batch if that fits, else it fails as out of
 * memory. `plan` plans another batch size.
 */
export function routeByMemory(pool: Pool, budget: number, batchSize: number, planned: PlannedMemory, plan: (batchSize: number) => PlannedMemory): MemoryRoute {
  const { needed } = planned;
  if (needed <= budget) return { kind: 'run', batchSize, recompute: planned.recompute, halved: false };
  if (pool === 'light') return { kind: 'move-to-heavy', reason: `estimated ${mb(needed)} MB > light budget ${mb(budget)} MB` };
  const half = Math.floor(batchSize / 2);
  const halfPlan = half >= 1 ? plan(half) : null;
  if (!halfPlan || halfPlan.needed > budget) {
    return { kind: 'fail', reason: `out of memory: needs an estimated ${mb(needed)} MB > heavy budget ${mb(budget)} MB, also at batch size ${half}` };
  }
  return { kind: 'run', batchSize: half, recompute: halfPlan.recompute, halved: true };
}
