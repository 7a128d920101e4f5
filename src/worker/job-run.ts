import { UnrecoverableError, type Job } from 'bullmq';
import type { ComputeRequest, DataSpec, RecomputePolicy } from '../core/types';
import type { Logger } from '../log';
import { JOB_NAME } from '../queue/names';
import { JOB_OPTIONS } from '../queue/queues';
import type { JobPayload } from '../queue/schema';
import type { ResultRow } from '../storage/rows';
import type { JobOutcome, WorkerContext } from './context';
import { isInputError, marked, message } from './failures';
import { fetchModuleBundle } from './module-fetch';
import type { ModuleBundle } from './protocol';
import { recordRows } from './record';
import { failedRows } from './rows';

/** One job being processed: its payload and logger, and the ways it can end besides computed rows. */
export class JobRun {
  constructor(
    readonly ctx: WorkerContext,
    readonly job: Job<JobPayload>,
    readonly p: JobPayload,
    readonly log: Logger,
  ) {
    this.data = p.data;
  }

  /** The job's data as the compute child gets it (a minibatch data set: with its fetched local copies). */
  data: DataSpec;

  /** The job's user proxy modules, fetched and verified (fetchModules). */
  modules?: ModuleBundle[];

  request(arch: string, batchSize: number, recompute: RecomputePolicy = 'auto'): ComputeRequest {
    const { p } = this;
    // The pool's budget bounds a split between wasm heaps too (their sum).
    return { space: p.space, task: p.task, arch, proxies: p.proxies, seed: p.seed, batchSize, data: this.data, recompute, memoryBudget: this.ctx.budget };
  }

  /** Record the job's computed rows and count the job. */
  async record(rows: ResultRow[]): Promise<void> {
    await recordRows(this.ctx, this.p, rows);
    this.ctx.stats.jobsComputed++;
  }

  /** Every triple of the job `failed` with `reason`: the rows written, the error to throw (no retry). */
  async fail(reason: string, batchSize = this.p.batchSize): Promise<Error> {
    await this.record(failedRows(this.p, reason, batchSize));
    this.log.warn({ reason, batchSize }, 'triples failed');
    return marked(new UnrecoverableError(reason));
  }

  /** A transient failure: the error to throw for BullMQ to retry, or on the last attempt the failed rows written. */
  async retryOrFail(err: unknown, batchSize: number): Promise<Error> {
    const { job } = this;
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsMade + 1 >= attempts) return this.fail(`failed after ${attempts} attempts: ${message(err)}`, batchSize);
    this.log.warn({ err: message(err), attempt: job.attemptsMade + 1, attempts }, 'transient failure: will retry with back-off');
    return err as Error;
  }

  async moveToHeavy(reason: string): Promise<JobOutcome> {
    const { ctx, job, p } = this;
    const route = [...(p.route ?? []), `${ctx.pool}: ${reason}`];
    // Same job id: a redelivered light job cannot put the message on the heavy queue twice.
    await ctx.infra(`move job ${job.id} to the heavy queue`, () => ctx.heavyQueue!.add(JOB_NAME, { ...p, route }, { ...JOB_OPTIONS, jobId: job.id! }));
    ctx.stats.movedToHeavy++;
    this.log.info({ reason }, 'moved to the heavy queue');
    return { movedTo: 'heavy', reason };
  }

  /**
   * A job naming user proxy modules: refused (every triple `failed` with the reason, no retry)
   * unless this worker allows modules; else their bundles fetched and verified. A missing or
   * altered bundle fails the job naming the module; an S3 outage is retried like any.
   */
  async fetchModules(): Promise<void> {
    const { p, ctx } = this;
    if (!p.modules) return;
    const names = p.modules.map((m) => m.name).join(', ');
    if (!ctx.settings.allowProxyModules) {
      throw await this.fail(
        `proxy modules not allowed on this worker (ZC_ALLOW_PROXY_MODULES is not 1): ${names} not run; a module is code run with the worker's rights`,
      );
    }
    const fetched: ModuleBundle[] = [];
    for (const m of p.modules) {
      try {
        fetched.push(await ctx.infra(`fetch proxy module ${m.name}`, () => fetchModuleBundle(m, ctx.store())));
      } catch (err) {
        if (isInputError(err)) throw await this.fail(`proxy module ${m.name} (sha256 ${m.sha256.slice(0, 12)}…): ${message(err)}`);
        throw await this.retryOrFail(err, p.batchSize);
      }
    }
    this.modules = fetched;
  }

  /** Code of another fingerprint would compute other scores under the build's triple ids (a rolling update): refused. */
  async refuseOtherFingerprint(): Promise<void> {
    const { p, ctx } = this;
    if (p.fingerprint !== ctx.fingerprint) {
      throw await this.fail(`code fingerprint mismatch: the build expects ${p.fingerprint}, this worker computes with ${ctx.fingerprint}`);
    }
  }
}
