import { UnrecoverableError } from 'bullmq';
import { computeProxies } from '../core/compute';
import { archsOf } from '../queue/schema';
import type { ResultRow } from '../storage/rows';
import type { JobOutcome } from './context';
import { isInputError, marked, message } from './failures';
import type { JobRun } from './job-run';
import { failedRows, rowsFromResult } from './rows';

/**
 * Shape-only proxies (params, flops), in this process, for every architecture of the message; no
 * memory estimate (no tensors: it would cost as much as the job). An architecture the core rejects
 * gets `failed` rows; a message with nothing computable fails (once) with the reason, like a tensor job.
 */
export async function runShapeOnly(run: JobRun): Promise<JobOutcome> {
  const { p } = run;
  const archs = archsOf(p);
  const rows: ResultRow[] = [];
  let inputFailures = 0;
  try {
    for (const arch of archs) {
      try {
        rows.push(...rowsFromResult(p, arch, await computeProxies(run.request(arch, p.batchSize))));
      } catch (err) {
        if (!isInputError(err)) throw err;
        inputFailures++;
        rows.push(...failedRows(p, `invalid input: ${message(err)}`, p.batchSize, [arch]));
      }
    }
  } catch (err) {
    throw await run.retryOrFail(err, p.batchSize);
  }
  await run.record(rows);
  const ok = rows.filter((r) => r.status === 'ok').length;
  // These finish by the thousand per second: debug lines (tensor jobs' are info).
  run.log.debug({ ok, failed: rows.length - ok }, 'triples done');
  if (inputFailures === archs.length) throw marked(new UnrecoverableError(rows[0]!.reason!));
  return { ok, failed: rows.length - ok, batchSize: p.batchSize };
}
