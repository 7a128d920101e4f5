import { planJobMemory } from '../core/compute';
import type { SpaceName, TaskName } from '../core/names';
import { POOLS, QUEUE_NAMES, type Pool } from '../queue/names';
import { routeByMemory } from '../queue/memory-route';
import { archsOf, isShapeOnly, plannedProxies, type JobPayload } from '../queue/schema';
import { checkModulesAgainstBase, dataIdsOf, expandMessages, type BaseVersion } from './producer';
import type { BuildPlan } from './spec';

/** Memory budgets of the pools, bytes (ZC_WORKER_MEMORY_MB, ZC_HEAVY_MEMORY_MB). */
export interface PoolBudgets {
  lightBytes: number;
  heavyBytes: number;
}

export interface PoolPlan {
  queue: string;
  budgetBytes: number;
  messages: number;
  triples: number;
  /** Messages of shape-only proxies (params, flops): computed in the worker process, no memory plan. */
  shapeOnlyMessages: number;
  /** Largest and median planned peak of one tensor job, bytes (none: no tensor job). */
  maxPeakBytes?: number;
  medianPeakBytes?: number;
}

export interface DryRunResult {
  buildId: string;
  dataset: string;
  /** Triples of the spec, before the base version. */
  specTriples: number;
  /** Triples the base version holds (ok rows): not enqueued. */
  heldByBase: number;
  /** Triples the build would compute. */
  toCompute: number;
  pools: Record<Pool, PoolPlan>;
  /** Heavy jobs that only fit at half the batch size (their rows would record it). */
  halvedBatch: number;
  /** Jobs whose plan exceeds the heavy budget even at half the batch: they would fail as out of memory. */
  overHeavyBudget: number;
  byTask: { space: SpaceName; task: TaskName; triples: number; messages: number; maxPeakBytes?: number }[];
}

type Route = { pool: Pool; neededBytes?: number; halved?: boolean; fails?: boolean };

/**
 * Where a message would run and what it would need, by the rules the worker applies: a tensor job
 * over the light budget (even recomputing segments) goes to the heavy pool; over the heavy budget,
 * it runs at half the batch, or fails.
 */
export function routeOf(p: JobPayload, budgets: PoolBudgets): Route {
  if (isShapeOnly(p.proxies) && !p.modules) return { pool: 'light' };
  const planner = (budget: number) => (batchSize: number) =>
    planJobMemory({ space: p.space, task: p.task, arch: archsOf(p)[0]!, batchSize, proxies: plannedProxies(p) }, budget);
  // The worker's own rule (routeByMemory), first on the light pool, then on the heavy one.
  const light = planner(budgets.lightBytes);
  const planned = light(p.batchSize);
  if (routeByMemory('light', budgets.lightBytes, p.batchSize, planned, light).kind === 'run') return { pool: 'light', neededBytes: planned.needed };
  const heavy = planner(budgets.heavyBytes);
  const full = heavy(p.batchSize);
  const route = routeByMemory('heavy', budgets.heavyBytes, p.batchSize, full, heavy);
  if (route.kind !== 'run') return { pool: 'heavy', neededBytes: full.needed, fails: true };
  return route.halved ? { pool: 'heavy', neededBytes: heavy(route.batchSize).needed, halved: true } : { pool: 'heavy', neededBytes: full.needed };
}

/** What `produce` would enqueue for the plan, and what its jobs would need; touches no queue. */
export async function dryRun(plan: BuildPlan, budgets: PoolBudgets, base?: BaseVersion): Promise<DryRunResult> {
  const dataIds = await dataIdsOf(plan);
  const peaks: Record<Pool, number[]> = { light: [], heavy: [] };
  const pools = Object.fromEntries(
    POOLS.map((pool) => [
      pool,
      { queue: QUEUE_NAMES[pool], budgetBytes: pool === 'light' ? budgets.lightBytes : budgets.heavyBytes, messages: 0, triples: 0, shapeOnlyMessages: 0 },
    ]),
  ) as Record<Pool, PoolPlan>;
  const result: DryRunResult = {
    buildId: plan.buildId,
    dataset: plan.spec.dataset,
    specTriples: plan.totalTriples,
    heldByBase: 0,
    toCompute: 0,
    pools,
    halvedBatch: 0,
    overHeavyBudget: 0,
    byTask: [],
  };
  const byTask = new Map<string, DryRunResult['byTask'][number]>();
  checkModulesAgainstBase(plan, base);
  for (const { proxies, messages, skipped } of expandMessages(plan, dataIds, base)) {
    result.heldByBase += skipped;
    result.toCompute += proxies.length;
    for (const m of messages) {
      const p = m.payload;
      const route = routeOf(p, budgets);
      const pool = pools[route.pool];
      pool.messages++;
      pool.triples += p.proxies.length * archsOf(p).length;
      if (route.neededBytes === undefined) pool.shapeOnlyMessages++;
      else peaks[route.pool].push(route.neededBytes);
      if (route.halved) result.halvedBatch++;
      if (route.fails) result.overHeavyBudget++;
      const key = `${p.space}/${p.task}`;
      const t = byTask.get(key) ?? { space: p.space, task: p.task, triples: 0, messages: 0 };
      t.triples += p.proxies.length * archsOf(p).length;
      t.messages++;
      if (route.neededBytes !== undefined) t.maxPeakBytes = Math.max(t.maxPeakBytes ?? 0, route.neededBytes);
      byTask.set(key, t);
    }
  }
  for (const pool of POOLS) {
    const sorted = peaks[pool].sort((a, b) => a - b);
    if (sorted.length > 0) {
      pools[pool].maxPeakBytes = sorted[sorted.length - 1];
      pools[pool].medianPeakBytes = sorted[Math.floor((sorted.length - 1) / 2)];
    }
  }
  result.byTask = [...byTask.values()];
  return result;
}
