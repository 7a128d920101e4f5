import { DelayedError, type Job } from 'bullmq';
import type { Logger } from '../log';
import { resultsLength } from '../queue/results';
import type { JobPayload } from '../queue/schema';
import type { WorkerContext } from './context';

/**
 * Back-pressure: while the build's results stream holds `resultsHighWater` entries (its
 * aggregator is down or behind), hold the job — no attempt spent — and look again every poll.
 */
export async function waitForRoom(ctx: WorkerContext, job: Job<JobPayload>, token: string | undefined, buildId: string, jlog: Logger): Promise<void> {
  const { resultsHighWater, backPressurePollMs } = ctx.settings;
  let paused = false;
  for (;;) {
    const length = await ctx.infra(`read the results stream length of build ${buildId}`, () => resultsLength(ctx.connection, ctx.prefix, buildId));
    if (length < resultsHighWater) break;
    if (!paused) {
      paused = true;
      ctx.stats.pausedForBackPressure++;
      jlog.warn({ length, highWater: resultsHighWater }, 'results stream above its high-water mark: job waits for the aggregator');
    }
    if (ctx.closing()) {
      // Shutting down: hand the job back (delayed; not a failed attempt) instead of holding it.
      await job.moveToDelayed(Date.now() + backPressurePollMs, token);
      throw new DelayedError();
    }
    await new Promise((r) => setTimeout(r, backPressurePollMs));
  }
  if (paused) jlog.info('results stream below its high-water mark: job resumes');
}
