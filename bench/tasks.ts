/**
 * `npm run smoke:tasks`: every proxy on 3 architectures of each of the paper's 28 tasks, at the
 * paper's batch sizes (64; 32 on Taskonomy), synthetic data. Writes bench/results/tasks.json with
 * each job's proxies (score, standalone time), backend, wall time and peak RSS, and a summary per
 * (task, proxy). grasp runs in a process of its own (it is the memory-heavy one: its peak RSS is its
 * own), the other proxies together in another. Each job is a child process, so a crash or an
 * out-of-memory kill is recorded as that job's error and the run goes on.
 *
 * Long: the Taskonomy networks at batch 32 cost minutes per job on wasm, and jobs beyond wasm's
 * 4 GiB run on tfjs-node or cpu. The file is rewritten after every job and a rerun skips the jobs it
 * already holds, so the run can be spread over several sittings. Environment:
 *   SMOKE_ONLY=space/task,...   only these tasks (e.g. transbench101_macro/autoencoder)
 *   SMOKE_ARCHS=n               architectures per task (default 3)
 *   SMOKE_RETRY_FAILED=1        run again the jobs that failed before
 *   SMOKE_MAX_JOBS=n            run at most n jobs this time (0: only rewrite the summary)
 *   SMOKE_CONCURRENCY=n         jobs at a time (default 1); with n > 1, a job starts only while the
 *                               memory plans of the running jobs and its own fit SMOKE_MEMORY_MB
 *                               (default 80 % of the machine); a job planned above it runs alone
 * A job that runs alone convolves on every core (ZC_HYBRID_THREADS), jobs side by side on one each.
 */
import { cpus, totalmem } from 'os';
import { join } from 'path';
import { estimateJobMemory } from '../src/core/compute';
import { SPACE_TASKS, SPACES, defaultBatchSize, proxiesForTask, type ProxyName } from '../src/core/names';
import { architectures, pick } from './lib/archs';
import {
  describeJob as describe,
  gitCommit,
  machineFacts,
  previousResults,
  runChildIfAsked,
  runJobInChild,
  writeResults,
  type BenchJob as Job,
  type BenchJobResult,
} from './lib/child-jobs';

interface JobResult extends BenchJobResult {
  /** The core's memory plan for the job (what routes it to a backend and a worker pool). */
  estimateMB?: number;
  /** The commit the job ran at. */
  commit?: string;
}

const OUT = join(__dirname, 'results', 'tasks.json');
function plannedJobs(): Job[] {
  const only = process.env.SMOKE_ONLY ? new Set(process.env.SMOKE_ONLY.split(',')) : null;
  const n = Number(process.env.SMOKE_ARCHS ?? 3);
  const jobs: Job[] = [];
  for (const space of SPACES) {
    for (const task of SPACE_TASKS[space]) {
      if (only && !only.has(`${space}/${task}`)) continue;
      const batchSize = defaultBatchSize(task);
      const all = proxiesForTask(task);
      for (const arch of pick(architectures(space, task), n)) {
        jobs.push({ space, task, arch, batchSize, proxies: ['grasp'] });
        jobs.push({ space, task, arch, batchSize, proxies: all.filter((p) => p !== 'grasp') });
      }
    }
  }
  // The issue's must-complete job first: a TNB-macro autoencoder architecture with grasp at batch 32.
  const first = jobs.findIndex((j) => j.space === 'transbench101_macro' && j.task === 'autoencoder' && j.proxies[0] === 'grasp');
  if (first > 0) jobs.unshift(...jobs.splice(first, 1));
  return jobs;
}

const key = (j: Job) => `${j.space}|${j.task}|${j.arch}|${j.proxies.join(',')}`;

function summary(results: JobResult[]) {
  const byTask: Record<string, Record<string, { jobs: number; finite: number; medianTime: number; maxPeakRssMB: number; errors: string[] }>> = {};
  for (const r of results) {
    const t = (byTask[`${r.space}/${r.task}`] ??= {});
    for (const p of r.proxies) {
      const s = (t[p] ??= { jobs: 0, finite: 0, medianTime: NaN, maxPeakRssMB: 0, errors: [] });
      s.jobs++;
      const v = r.results?.[p];
      if (v && Number.isFinite(v.score) && v.score !== -1e8) s.finite++;
      if (r.error) s.errors.push(r.error);
      if (Number.isFinite(r.peakRssMB)) s.maxPeakRssMB = Math.max(s.maxPeakRssMB, Math.round(r.peakRssMB));
    }
  }
  for (const [task, proxies] of Object.entries(byTask)) {
    for (const [p, s] of Object.entries(proxies)) {
      const times = results
        .filter((r) => `${r.space}/${r.task}` === task && r.results?.[p as ProxyName])
        .map((r) => r.results![p as ProxyName]!.time)
        .sort((a, b) => a - b);
      s.medianTime = times.length ? times[Math.floor(times.length / 2)]! : NaN;
    }
  }
  return byTask;
}

async function main(): Promise<void> {
  const previous = previousResults<{ jobs: JobResult[] }>(OUT).jobs ?? [];
  const retry = process.env.SMOKE_RETRY_FAILED === '1';
  const done = new Map(previous.filter((r) => !(retry && r.error)).map((r) => [key(r), r]));
  const jobs = plannedJobs();
  const todo = jobs.filter((j) => !done.has(key(j))).slice(0, Number(process.env.SMOKE_MAX_JOBS ?? Infinity));
  process.stderr.write(`${jobs.length} jobs planned, ${done.size} in ${OUT}, ${todo.length} to run now\n`);
  const commit = gitCommit();
  const write = () => {
    const all = [...done.values()];
    const out = {
      benchmark: 'smoke:tasks — 3 architectures × 28 tasks, every proxy, paper batch sizes, synthetic data, seed 0',
      machine: machineFacts(),
      planned: jobs.length,
      completed: all.filter((r) => !r.error).length,
      failed: all.filter((r) => r.error).length,
      summary: summary(all),
      jobs: all,
    };
    writeResults(OUT, out);
  };
  const concurrency = Math.max(1, Number(process.env.SMOKE_CONCURRENCY ?? 1));
  const budgetMB = Number(process.env.SMOKE_MEMORY_MB ?? Math.round((0.8 * totalmem()) / 2 ** 20));
  const planMB = new Map(todo.map((j) => [j, Math.round(estimateJobMemory(j) / 2 ** 20)]));
  const pending = [...todo];
  const running = new Set<Job>();
  let started = 0;
  const finished = (job: Job, n: number) => (r: JobResult) => {
    running.delete(job);
    const result = { ...r, estimateMB: planMB.get(job)!, commit };
    done.set(key(result), result);
    const bad = result.results
      ? Object.entries(result.results)
          .filter(([, v]) => !Number.isFinite(v!.score) || v!.score === -1e8)
          .map(([p]) => p)
      : [];
    process.stderr.write(
      `[${n}/${todo.length}] ${describe(job)}: ${result.error ? `FAILED (${result.error})` : `${result.seconds.toFixed(1)} s, ${Math.round(result.peakRssMB)} MB RSS (plan ${result.estimateMB} MB), ${result.backend}${bad.length ? `, non-finite: ${bad.join(' ')}` : ''}`}\n`,
    );
    write();
  };
  // Start, in plan order, every pending job that fits beside the running ones; a job that fits
  // nowhere waits until it can run alone.
  const schedule = (): Promise<void>[] => {
    const launched: Promise<void>[] = [];
    for (const job of [...pending]) {
      if (running.size >= concurrency) break;
      const used = [...running].reduce((sum, j) => sum + planMB.get(j)!, 0);
      if (running.size > 0 && used + planMB.get(job)! > budgetMB) continue;
      pending.splice(pending.indexOf(job), 1);
      running.add(job);
      const n = ++started;
      // A job that no pending one fits beside (running alone, as the big grasp jobs do) gets the
      // cores to itself; jobs that share the machine get one convolution thread each.
      const usedNow = used + planMB.get(job)!;
      const alone = running.size === 1 && (concurrency === 1 || !pending.some((j) => usedNow + planMB.get(j)! <= budgetMB));
      const threads = alone ? cpus().length : 1;
      process.stderr.write(`[${n}/${todo.length}] start ${describe(job)} (plan ${planMB.get(job)} MB, ${threads} thread${threads > 1 ? 's' : ''})\n`);
      launched.push(
        runJobInChild(__filename, job, threads)
          .then(finished(job, n))
          .then(() => Promise.all(schedule()))
          .then(() => undefined),
      );
    }
    return launched;
  };
  await Promise.all(schedule());
  // Nothing to run (all done, or SMOKE_MAX_JOBS=0): rewrite the summary of what the file holds.
  if (todo.length === 0) write();
}

if (!runChildIfAsked()) {
  main().catch((err) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
