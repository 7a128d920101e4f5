/**
 * `npm run bench:heavy`: the jobs that do not fit one wasm heap (Taskonomy on TNB micro and macro,
 * NB301, NB101), as the pipeline runs them (one network build, shared passes), at batch 32 — what
 * NASLib's released tables used — against NASLib's own recorded times for the same architectures and
 * proxies. Writes bench/results/heavy.json: per case the wall time, threads, backend, peak RSS, the
 * core's memory plan, and `ratio` = seconds / NASLib's seconds; a zen job per TNB and NB301 case
 * (ratio where NASLib's zen time is known); the NB201 `npm run bench` median of each sitting (machines
 * here differ ~2× in speed); and the full-suite estimate in core-hours.
 *
 * One job at a time, each in a child process with every core for its convolutions (a crash or an OOM
 * kill costs that job). The file is rewritten after every job; a rerun resumes. Environment:
 *   BENCH_ONLY=space/task,...   only these tasks (e.g. transbench101_micro/class_scene)
 *   BENCH_RETRY_FAILED=1        run again the jobs that failed before
 *   BENCH_RERUN=1               run the selected jobs again even where a result exists (it is replaced)
 *   BENCH_KIND=main|zen         only the main jobs, or only zen's
 *   BENCH_ARCHS=0,2             only these of each case's architectures (0-based, in the order above)
 *   BENCH_MAX_JOBS=n            at most n jobs this time (0: only rewrite the summary)
 *   BENCH_NB201=0               skip this sitting's NB201 reference run
 *   BENCH_HEAVY_POD_MB=15360    the heavy pool's memory (a job whose peak RSS exceeds it is flagged)
 */
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { cpus, tmpdir } from 'os';
import { join } from 'path';
import { backendSettings } from '../src/config';
import { DEFAULT_WASM_SHARDS } from '../src/core/backend';
import { estimateJobMemory } from '../src/core/compute';
import { proxiesForTask, TASKONOMY_TASKS, type ProxyName, type SpaceName, type TaskName } from '../src/core/names';
import { architectures, pick } from './lib/archs';
import {
  describeJob,
  gitCommit,
  machineFacts,
  previousResults,
  runChildIfAsked,
  runJobInChild,
  writeResults,
  type BenchJob,
  type BenchJobResult,
} from './lib/child-jobs';

const OUT = join(__dirname, 'results', 'heavy.json');
const BATCH = 32;

/** What NASLib's early TNB tables hold (epe_nas aside, which zcbench leaves undefined on Taskonomy). */
const TNB_COMPARED: ProxyName[] = ['fisher', 'flops', 'grad_norm', 'grasp', 'jacov', 'l2_norm', 'nwot', 'params', 'plain', 'snip'];

/*
 * NASLib's own recorded times: the sum of the per-proxy `time` fields of the released
 * NAS-Bench-Suite-Zero tables (Apache-2.0) for the TNB_COMPARED proxies, batch 32, as quoted in
 * issue 12 of this project (the TNB tables are not in test/fixtures). NB301's come from
 * test/fixtures/reference/zc_nasbench301_subset.json directly (nb301Anchor below).
 */
const TNB_MICRO_ARCHS = ['(2, 1, 2, 1, 0, 1)', '(1, 2, 2, 0, 2, 3)', '(3, 2, 3, 0, 0, 3)'];
const TNB_MACRO_ARCHS = ['(3, 3, 2, 1, 3, 1)', '(1, 1, 4, 1, 1)', '(1, 4, 2, 1, 2)'];
const TNB_ANCHORS: Record<'transbench101_micro' | 'transbench101_macro', Partial<Record<TaskName, number[]>>> = {
  transbench101_micro: {
    class_scene: [25.6, 39.3, 50.5],
    class_object: [25.5, 39.0, 50.3],
    jigsaw: [21.7, 33.2, 44.1],
    room_layout: [32.3, 44.6, 59.0],
    normal: [56.5, 64.7, 82.6],
    autoencoder: [60.5, 70.7, 86.6],
    segmentsemantic: [67.6, 79.6, 93.7],
  },
  transbench101_macro: {
    class_scene: [19.8, 46.1, 111.2],
    class_object: [20.1, 48.8, 112.0],
    jigsaw: [21.0, 25.1, 50.8],
    room_layout: [25.4, 57.9, 93.1],
    normal: [42.6, 135.9, 203.7],
    autoencoder: [46.0, 139.0, 203.6],
    segmentsemantic: [49.6, 97.3, 163.2],
  },
};
/** NASLib's zen time alone on the TNB-micro cells above (same origin). */
const TNB_MICRO_ZEN_ANCHORS: Partial<Record<TaskName, number[]>> = {
  class_scene: [2.1, 2.4, 3.1],
  jigsaw: [1.7, 2.1, 2.9],
  autoencoder: [4.0, 4.6, 5.1],
  segmentsemantic: [4.4, 4.9, 6.8],
};
const NB301_ARCHS = [
  '[[(1, 0), (0, 0), (1, 1), (2, 1), (2, 0), (3, 3), (2, 6), (1, 0)], [(1, 4), (0, 3), (1, 6), (2, 5), (0, 6), (2, 2), (4, 4), (2, 2)]]',
  '[[(0, 3), (1, 5), (0, 4), (2, 0), (0, 5), (2, 1), (0, 0), (4, 2)], [(0, 6), (1, 0), (2, 3), (1, 2), (2, 6), (1, 4), (0, 5), (3, 4)]]',
  '[[(0, 6), (1, 0), (2, 4), (1, 1), (2, 3), (1, 5), (0, 3), (3, 4)], [(1, 2), (0, 4), (2, 0), (1, 5), (2, 0), (1, 1), (4, 4), (1, 0)]]',
];

/** The paper's architectures per task (NAS-Bench-Suite-Zero Table 2, as NASLib's lists hold them). */
const SUITE_ARCHS: Record<SpaceName, Partial<Record<TaskName, number>>> = {
  nasbench101: { cifar10: 10000 },
  nasbench201: { cifar10: 15625, cifar100: 15625, 'ImageNet16-120': 15625, svhn: 199, ninapro: 199, scifar100: 199 },
  nasbench301: { cifar10: 11221, svhn: 199, ninapro: 199, scifar100: 199 },
  transbench101_micro: { svhn: 192, ninapro: 192, scifar100: 192, ...Object.fromEntries(TASKONOMY_TASKS.map((t) => [t, 4096])) },
  transbench101_macro: Object.fromEntries(TASKONOMY_TASKS.map((t) => [t, 3256])),
};
/** The tasks with 32×32-pixel inputs that the 9x architecture lists serve (not run by this bench). */
const EXTRA_TASKS: ReadonlySet<TaskName> = new Set(['svhn', 'ninapro', 'scifar100']);
/** NAS-Bench-Suite-Zero's own cost of the whole suite. */
const PAPER_CPU_HOURS = 1100;

interface HeavyJob extends BenchJob {
  /** `main`: the compared proxies in one job; `zen`: zen alone. */
  kind: 'main' | 'zen';
  /** NASLib's seconds for the same architecture and proxies, where released. */
  anchorSeconds?: number;
}

interface HeavyResult extends BenchJobResult, HeavyJob {
  ratio?: number;
  planMB: number;
  /** Peak RSS within the memory plan, and within the heavy pod. */
  withinPlan?: boolean;
  withinHeavyPod?: boolean;
  commit: string;
  /** Index into `sittings`: the NB201 median measured in the same sitting. */
  sitting: number;
}

interface Sitting {
  date: string;
  commit: string;
  nb201MedianSecondsPerArch?: number;
  nb201Backend?: string;
}

type NB301Table = { cifar10: Record<string, Record<string, { time?: number }>> };

/** NASLib's time for an NB301 architecture: the sum of its 12 proxies' `time` fields in the released table. */
function nb301Anchor(table: NB301Table, arch: string): number {
  const row = table.cifar10[arch];
  if (!row) throw new Error(`zc_nasbench301_subset.json has no ${arch}`);
  return proxiesForTask('cifar10')
    .filter((p) => p !== 'zen')
    .reduce((sum, p) => sum + row[p]!.time!, 0);
}

function plannedJobs(): HeavyJob[] {
  const jobs: HeavyJob[] = [];
  for (const space of ['transbench101_micro', 'transbench101_macro'] as const) {
    const archs = space === 'transbench101_micro' ? TNB_MICRO_ARCHS : TNB_MACRO_ARCHS;
    for (const task of TASKONOMY_TASKS) {
      archs.forEach((arch, i) => {
        jobs.push({ space, task, arch, batchSize: BATCH, proxies: TNB_COMPARED, kind: 'main', anchorSeconds: TNB_ANCHORS[space][task]![i] });
        const zen = space === 'transbench101_micro' ? TNB_MICRO_ZEN_ANCHORS[task]?.[i] : undefined;
        jobs.push({ space, task, arch, batchSize: BATCH, proxies: ['zen'], kind: 'zen', ...(zen !== undefined && { anchorSeconds: zen }) });
      });
    }
  }
  const nb301 = JSON.parse(readFileSync(join(__dirname, '..', 'test', 'fixtures', 'reference', 'zc_nasbench301_subset.json'), 'utf8')) as NB301Table;
  for (const arch of NB301_ARCHS) {
    const proxies = proxiesForTask('cifar10').filter((p) => p !== 'zen');
    jobs.push({ space: 'nasbench301', task: 'cifar10', arch, batchSize: BATCH, proxies, kind: 'main', anchorSeconds: nb301Anchor(nb301, arch) });
    jobs.push({ space: 'nasbench301', task: 'cifar10', arch, batchSize: BATCH, proxies: ['zen'], kind: 'zen' });
  }
  for (const arch of pick(architectures('nasbench101', 'cifar10'), 3)) {
    jobs.push({ space: 'nasbench101', task: 'cifar10', arch, batchSize: BATCH, proxies: proxiesForTask('cifar10'), kind: 'main' });
  }
  return jobs;
}

/** BENCH_ONLY narrows what runs now, never what the file keeps: results of the other tasks stay. */
function selectedJobs(jobs: HeavyJob[]): HeavyJob[] {
  const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
  const kind = process.env.BENCH_KIND;
  const archs = process.env.BENCH_ARCHS ? new Set(process.env.BENCH_ARCHS.split(',').map(Number)) : null;
  // A job's architecture index among its case's jobs of the same kind.
  const index = (j: HeavyJob) => jobs.filter((o) => o.space === j.space && o.task === j.task && o.kind === j.kind).indexOf(j);
  return jobs.filter((j) => (!only || only.has(`${j.space}/${j.task}`)) && (!kind || j.kind === kind) && (!archs || archs.has(index(j))));
}

function withoutVariables(env: NodeJS.ProcessEnv, names: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !names.includes(name)));
}

const key = (j: HeavyJob) => `${j.space}|${j.task}|${j.arch}|${j.kind}`;

/** This sitting's `npm run bench` median, in a child (it writes to a scratch file, not nb201.json). */
function nb201Sitting(): Pick<Sitting, 'nb201MedianSecondsPerArch' | 'nb201Backend'> {
  const dir = mkdtempSync(join(tmpdir(), 'zc-heavy-nb201-'));
  try {
    const file = join(dir, 'nb201.json');
    execFileSync(process.execPath, [...process.execArgv, join(__dirname, 'nb201.ts')], {
      stdio: ['ignore', 'ignore', 'inherit'],
      // This bench's BENCH_ARCHS (indices) is not nb201's (a count): the reference runs all ten.
      env: { ...withoutVariables(process.env, ['BENCH_ARCHS', 'BENCH_BATCH']), BENCH_OUT: file },
    });
    const r = JSON.parse(readFileSync(file, 'utf8')) as { medianSecondsPerArch: number; backend: string };
    if (!Number.isFinite(r.medianSecondsPerArch)) throw new Error(`the NB201 reference run gave no median (${r.medianSecondsPerArch})`);
    return { nb201MedianSecondsPerArch: r.medianSecondsPerArch, nb201Backend: r.backend };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Core-hours of the whole suite: per task, the mean core-seconds (wall × threads) of its measured
 * jobs (main + zen) × the paper's architecture count. Tasks this bench does not run take the nearest
 * measured one: NB201's tasks the sitting's NB201 median (one single-threaded wasm process, all 13
 * proxies at batch 64), NB301's extra tasks NB301 cifar10, TNB-micro's svhn/ninapro/scifar100 (32×32
 * inputs) NB301 cifar10 too. Returns null until every measured task has a result.
 */
function suiteEstimate(results: HeavyResult[], sittings: Sitting[]) {
  const ok = results.filter((r) => !r.error);
  const perTask = new Map<string, number>();
  for (const r of ok) {
    const id = `${r.space}/${r.task}`;
    if (perTask.has(id)) continue;
    const mains = ok.filter((x) => x.space === r.space && x.task === r.task && x.kind === 'main').map((x) => x.seconds * x.threads);
    const zens = ok.filter((x) => x.space === r.space && x.task === r.task && x.kind === 'zen').map((x) => x.seconds * x.threads);
    if (mains.length) perTask.set(id, mean(mains) + (zens.length ? mean(zens) : 0));
  }
  const nb201 = sittings.map((s) => s.nb201MedianSecondsPerArch).filter((s): s is number => s !== undefined);
  const stand: Record<string, string> = {};
  for (const [space, counts] of Object.entries(SUITE_ARCHS)) {
    for (const task of Object.keys(counts)) {
      const id = `${space}/${task}`;
      if (perTask.has(id)) continue;
      if (space === 'nasbench201' && nb201.length) {
        perTask.set(id, mean(nb201));
        stand[id] = 'nb201 median';
      } else if (perTask.has('nasbench301/cifar10') && (space === 'nasbench301' || EXTRA_TASKS.has(task as TaskName))) {
        perTask.set(id, perTask.get('nasbench301/cifar10')!);
        stand[id] = 'nasbench301/cifar10';
      }
    }
  }
  let seconds = 0;
  const missing: string[] = [];
  for (const [space, counts] of Object.entries(SUITE_ARCHS)) {
    for (const [task, n] of Object.entries(counts)) {
      const s = perTask.get(`${space}/${task}`);
      if (s === undefined) missing.push(`${space}/${task}`);
      else seconds += s * n!;
    }
  }
  const coreHours = seconds / 3600;
  return {
    coreHours: missing.length ? null : Math.round(coreHours),
    partialCoreHours: Math.round(coreHours),
    missingTasks: missing,
    standIns: stand,
    paperCpuHours: PAPER_CPU_HOURS,
    target: 2 * PAPER_CPU_HOURS,
    perTaskCoreSecondsPerArch: Object.fromEntries(perTask),
  };
}

function withVerdicts(job: HeavyJob, r: BenchJobResult, planMB: number, podMB: number, commit: string, sitting: number): HeavyResult {
  const out: HeavyResult = { ...job, ...r, planMB, commit, sitting };
  if (r.error) return out;
  if (job.anchorSeconds !== undefined) out.ratio = r.seconds / job.anchorSeconds;
  out.withinPlan = r.peakRssMB <= planMB;
  out.withinHeavyPod = r.peakRssMB <= podMB;
  return out;
}

function table(results: HeavyResult[]): string[] {
  return results.map(
    (r) =>
      `${describeJob(r).padEnd(70)} ${r.error ? `FAILED ${r.error}` : `${r.seconds.toFixed(1).padStart(7)} s  ratio ${r.ratio?.toFixed(2) ?? '  – '}  ${r.backend}${(r.shards ?? 1) > 1 ? `:${r.shards}` : ''} ×${r.threads}  ${Math.round(r.peakRssMB)} MB (plan ${r.planMB})`}`,
  );
}

async function main(): Promise<void> {
  const podMB = Number(process.env.BENCH_HEAVY_POD_MB ?? 15360);
  const retry = process.env.BENCH_RETRY_FAILED === '1';
  const previous = previousResults<{ jobs: HeavyResult[]; sittings: Sitting[] }>(OUT);
  const done = new Map((previous.jobs ?? []).filter((r) => !(retry && r.error)).map((r) => [key(r), r]));
  const jobs = plannedJobs();
  const todo = selectedJobs(jobs)
    .filter((j) => process.env.BENCH_RERUN === '1' || !done.has(key(j)))
    .slice(0, Number(process.env.BENCH_MAX_JOBS ?? Infinity));
  process.stderr.write(`${jobs.length} jobs planned, ${done.size} in ${OUT}, ${todo.length} to run now\n`);
  const commit = gitCommit();
  const sittings = previous.sittings ?? [];
  const sitting = sittings.length;
  if (todo.length > 0) {
    sittings.push({ date: new Date().toISOString(), commit, ...(process.env.BENCH_NB201 !== '0' && nb201Sitting()) });
    process.stderr.write(`sitting ${sitting}: NB201 median ${sittings[sitting]!.nb201MedianSecondsPerArch?.toFixed(2) ?? '–'} s per arch\n`);
  }
  const write = () => {
    const all = jobs.map((j) => done.get(key(j))).filter((r): r is HeavyResult => r !== undefined);
    const cases = all.filter((r) => r.kind === 'main');
    writeResults(OUT, {
      benchmark: 'bench:heavy — TNB micro/macro Taskonomy, NB301 and NB101 at batch 32 vs NASLib’s recorded times',
      machine: machineFacts(),
      batchSize: BATCH,
      planned: jobs.length,
      completed: all.filter((r) => !r.error).length,
      failed: all.filter((r) => r.error).length,
      worstRatio: cases.some((r) => r.ratio !== undefined) ? Math.max(...cases.filter((r) => r.ratio !== undefined).map((r) => r.ratio!)) : null,
      estimate: suiteEstimate(all, sittings),
      sittings,
      jobs: all,
    });
  };
  const threads = cpus().length;
  // As a heavy worker runs them: a split between wasm heaps only within the pod's memory.
  const memoryBudget = podMB * 2 ** 20;
  const settings = backendSettings();
  const shards = { max: settings.shards ?? DEFAULT_WASM_SHARDS, min: settings.minShards ?? threads, budgetBytes: memoryBudget };
  for (const [i, job] of todo.entries()) {
    const planMB = Math.round(estimateJobMemory({ ...job, shards }) / 2 ** 20);
    process.stderr.write(`[${i + 1}/${todo.length}] start ${describeJob(job)} (plan ${planMB} MB)\n`);
    const r = withVerdicts(job, await runJobInChild(__filename, { ...job, memoryBudget }, threads), planMB, podMB, commit, sitting);
    done.set(key(job), r);
    process.stderr.write(`[${i + 1}/${todo.length}] ${table([r])[0]}\n`);
    write();
  }
  if (todo.length === 0) write();
  const all = jobs.map((j) => done.get(key(j))).filter((r): r is HeavyResult => r !== undefined);
  process.stdout.write(table(all).join('\n') + '\n');
  const est = suiteEstimate(all, sittings);
  process.stdout.write(
    `full-suite estimate: ${est.coreHours ?? `≥ ${est.partialCoreHours} (missing ${est.missingTasks.length} tasks)`} core-hours (paper ${PAPER_CPU_HOURS} CPU-hours, target ${est.target})\n`,
  );
}

if (!runChildIfAsked()) {
  main().catch((err) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
