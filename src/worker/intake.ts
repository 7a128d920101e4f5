import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../log';
import { isCancelled } from '../queue/build';
import { JobPayloadSchema, archsOf, describeIssue, type JobPayload } from '../queue/schema';
import type { WorkerContext } from './context';
import { marked } from './failures';

export type Intake = { payload: JobPayload; log: Logger } | { skipped: 'build cancelled' };

/**
 * A job as it arrives: its payload validated (a malformed one fails the job: there is no valid
 * triple to write a row for), a logger naming it, and skipped if its build was cancelled.
 */
export async function takeJob(ctx: WorkerContext, job: Job<JobPayload>): Promise<Intake> {
  const parsed = JobPayloadSchema.safeParse(job.data);
  if (!parsed.success) {
    const reason = `malformed job payload: ${describeIssue(parsed.error.issues[0]!)}`;
    ctx.log.error({ pool: ctx.pool, jobId: job.id, reason }, 'job failed');
    throw marked(new UnrecoverableError(reason));
  }
  const p = parsed.data;
  const archs = archsOf(p);
  const log = ctx.log.child({
    pool: ctx.pool,
    buildId: p.buildId,
    jobId: job.id,
    space: p.space,
    task: p.task,
    ...(p.arch !== undefined ? { arch: p.arch } : { archs: archs.length, firstArch: archs[0] }),
    proxies: p.proxies.join(','),
    ...(p.modules ? { modules: p.modules.map((m) => m.name).join(',') } : {}),
    seed: p.seed,
  });
  if (await isCancelled(ctx.connection, ctx.prefix, p.buildId)) {
    log.info('build cancelled: job skipped');
    return { skipped: 'build cancelled' };
  }
  return { payload: p, log };
}
