import { planJobMemory } from '../core/compute';
import { evaluatePassesNeeded } from '../core/evaluate';
import type { MinibatchObjectSpec } from '../core/types';
import { IntegrityError, NotFoundError } from '../errors';
import { withFetchedMinibatches } from './minibatch-fetch';
import type { JobOutcome } from './context';
import { isAccounted, isInputError, isMemoryError, message } from './failures';
import type { JobRun } from './job-run';
import { mb, routeByMemory, type PlannedMemory } from '../queue/memory-route';
import { jobDeadlineMs } from './options';
import { plannedProxies } from '../queue/schema';
import { rowsFromResult } from './rows';

/**
 * Tensor work: one architecture per message, computed in a child. A job over the budget first
 * recomputes its backward passes' segments (same values, less memory); only a job that still does
 * not fit moves to the heavy pool, and there runs at half the batch.
 */
export async function runTensorJob(run: JobRun): Promise<JobOutcome> {
  const { ctx, p } = run;
  const arch = p.arch!;
  const plan = (batchSize: number): PlannedMemory => planJobMemory({ space: p.space, task: p.task, arch, batchSize, proxies: plannedProxies(p) }, ctx.budget);
  let planned: PlannedMemory;
  try {
    planned = plan(p.batchSize);
  } catch (err) {
    if (isInputError(err)) throw await run.fail(`invalid input: ${message(err)}`);
    throw await run.retryOrFail(err, p.batchSize);
  }
  const route = routeByMemory(ctx.pool, ctx.budget, p.batchSize, planned, plan);
  if (route.kind === 'move-to-heavy') return run.moveToHeavy(route.reason);
  if (route.kind === 'fail') throw await run.fail(route.reason);
  if (p.data.source === 'minibatch') {
    try {
      run.data = await ctx.infra('minibatch fetch', () =>
        // What a module reads is known only in the child: its job fetches the second minibatch too.
        withFetchedMinibatches(p.data as MinibatchObjectSpec, p.modules !== undefined || evaluatePassesNeeded(p.proxies).has('minibatch1')),
      );
    } catch (err) {
      if (err instanceof IntegrityError || err instanceof NotFoundError) throw await run.fail(`integrity: ${message(err)}`);
      throw await run.retryOrFail(err, p.batchSize);
    }
  }
  if (route.halved)
    run.log.warn(
      { neededMb: mb(planned.needed), budgetMb: mb(ctx.budget), batchSize: route.batchSize },
      'over the heavy budget: running at half the batch size',
    );
  return computeInChild(run, arch, route.batchSize, route.recompute, jobDeadlineMs(planned.needed, ctx.settings.deadline));
}

/**
 * Run the job in a compute child, killed past `deadlineMs`. Out of memory: a light job moves to the
 * heavy pool; a heavy one gets one last run at half the batch (recorded in its rows), then fails.
 */
async function computeInChild(run: JobRun, arch: string, firstBatchSize: number, recompute: 'auto' | 'always', deadlineMs: number): Promise<JobOutcome> {
  const { ctx, p, job } = run;
  let batchSize = firstBatchSize;
  for (;;) {
    try {
      run.log.debug({ batchSize }, 'computing');
      const result = await ctx.children.run(run.request(arch, batchSize, recompute), job.id!, { deadlineMs, modules: run.modules });
      const rows = rowsFromResult(p, arch, { ...result, batchSize });
      await run.record(rows);
      const ok = rows.filter((r) => r.status === 'ok').length;
      run.log.info({ batchSize, ok, failed: rows.length - ok, backend: result.backend }, 'triples done');
      return { ok, failed: rows.length - ok, batchSize };
    } catch (err) {
      if (isAccounted(err)) throw err;
      if (isMemoryError(err)) {
        if (ctx.pool === 'light') return run.moveToHeavy(`out of memory: ${message(err)}`);
        if (batchSize === p.batchSize && batchSize >= 2) {
          batchSize = Math.floor(batchSize / 2);
          run.log.warn({ err: message(err), batchSize }, 'out of memory on the heavy pool: retrying at half the batch size');
          continue;
        }
        throw await run.fail(`out of memory on the heavy pool at batch size ${batchSize}: ${message(err)}`, batchSize);
      }
      if (isInputError(err)) throw await run.fail(`invalid input: ${message(err)}`);
      throw await run.retryOrFail(err, batchSize);
    }
  }
}
