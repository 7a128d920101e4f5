/**
 * Chaos run of the pipeline: the same build spec through the real CLI processes (`produce`,
 * `work --pool light|heavy`, `aggregate`), first fault-free, then under a seeded schedule of
 * faults, each on a Redis (AOF on) and an embedded S3 of its own; then the two published
 * versions are compared triple by triple.
 *
 * Run: npm run chaos  →  bench/results/chaos.json (exit 1 when a triple is lost, duplicated or
 * differs, or the run passes its time bound). CHAOS_QUICK=1: a smaller build, every fault kind
 * once, a 10 s S3 outage. CHAOS_SEED, CHAOS_S3_OUTAGE_S (default 60), CHAOS_TIMEOUT_S,
 * CHAOS_ARCHS, CHAOS_WINDOW_S, CHAOS_KEEP=1 (keep the run's directory: logs, Redis, S3).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { loadavg, tmpdir } from 'os';
import { join } from 'path';
import { readBuild } from '../src/queue/build';
import { logger } from '../src/log';
import { redisKeys } from '../src/queue/names';
import { EMBEDDED_S3_CREDENTIALS } from '../src/storage/embedded';
import { openStore } from '../src/storage/store';
import { Cluster, ROOT, type ProcessExit } from './lib/chaos-cluster';
import { compareVersions, readPublished, type PublishedRows } from './lib/chaos-compare';
import { FaultInjector, type BuildHandle, type InjectedFault } from './lib/chaos-faults';
import { FULL_COUNTS, planSchedule, QUICK_COUNTS, type PlannedFault } from './lib/chaos-schedule';
import { gitCommit, machineFacts, writeResults } from './lib/child-jobs';

const PREFIX = 'chaos';
const RESULTS = join(ROOT, 'bench', 'results', 'chaos.json');

interface Settings {
  seed: number;
  quick: boolean;
  cheapArchs: number;
  tensorArchs: number;
  s3OutageS: number;
  timeoutS: number;
  windowS?: number;
  /** ZC_JOB_DEADLINE_MIN_S of the workers: a child stopped longer is killed and its job retried. */
  deadlineS: number;
  /** The aggregators' --lock-ttl-ms: one stopped longer loses its builds to the other. */
  lockTtlMs: number;
  keep: boolean;
}

function settings(env = process.env): Settings {
  const quick = env.CHAOS_QUICK === '1';
  const num = (name: string, otherwise: number) => {
    const v = env[name];
    if (v === undefined || v === '') return otherwise;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${JSON.stringify(v)}: a non-negative number`);
    return n;
  };
  return {
    seed: num('CHAOS_SEED', 13),
    quick,
    cheapArchs: num('CHAOS_ARCHS', quick ? 100 : 500),
    tensorArchs: quick ? 3 : 6,
    s3OutageS: num('CHAOS_S3_OUTAGE_S', quick ? 10 : 60),
    timeoutS: num('CHAOS_TIMEOUT_S', quick ? 900 : 2400),
    windowS: env.CHAOS_WINDOW_S ? num('CHAOS_WINDOW_S', 0) : undefined,
    deadlineS: 30,
    lockTtlMs: 5000,
    keep: env.CHAOS_KEEP === '1',
  };
}

/** Cheap proxies on many NB201 cells (≥ 2,000 triples in the full run), and a few gradient jobs. */
function specs(s: Settings): { dataset: string; spec: Record<string, unknown> }[] {
  const common = { spaces: ['nasbench201'], tasks: ['cifar10'], batchSize: { default: 8 } };
  return [
    {
      dataset: 'chaos-cheap',
      spec: { dataset: 'chaos-cheap', ...common, proxies: ['params', 'flops', 'l2_norm', 'synflow'], archs: { sample: s.cheapArchs, seed: s.seed } },
    },
    {
      dataset: 'chaos-tensor',
      spec: { dataset: 'chaos-tensor', ...common, proxies: ['snip', 'grad_norm'], archs: { sample: s.tensorArchs, seed: s.seed + 1 } },
    },
  ];
}

interface RunOutcome {
  wallSeconds: number;
  expected: number;
  published: PublishedRows[];
  jobs: ReturnType<Cluster['jobStarts']['summary']>;
  /** Rows workers wrote to the results streams (counters of the build records, summed over a FLUSHALL). */
  rowsWritten: number;
  exits: ProcessExit[];
  injected: InjectedFault[];
  notInjected: (PlannedFault & { why: string })[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rowCounters(cluster: Cluster, buildIds: string[]): Promise<number> {
  let n = 0;
  for (const id of buildIds) {
    const r = await readBuild(cluster.admin, PREFIX, id).catch(() => undefined);
    n += (r?.rowsOk ?? 0) + (r?.rowsFailed ?? 0);
  }
  return n;
}

async function statesOf(cluster: Cluster, buildIds: string[]): Promise<(string | null)[]> {
  return Promise.all(buildIds.map((id) => cluster.admin.hget(redisKeys(PREFIX).build(id), 'state')));
}

/** Start the workers and wait until each has loaded its backend (both runs start their clock after this). */
async function startWorkers(cluster: Cluster, deadline: number): Promise<void> {
  const roles = [
    cluster.add('light-1', ['work', '--pool', 'light', '--concurrency', '2', '--children', '1']),
    cluster.add('light-2', ['work', '--pool', 'light', '--concurrency', '2', '--children', '1']),
    cluster.add('heavy-1', ['work', '--pool', 'heavy', '--concurrency', '1', '--children', '1']),
  ];
  while (!roles.every((r) => r.ready)) {
    if (Date.now() > deadline) throw new Error('chaos: timed out waiting for the workers to start');
    await sleep(200);
  }
}

async function produceAll(cluster: Cluster, dir: string, s: Settings): Promise<{ builds: BuildHandle[]; expected: number }> {
  const builds: BuildHandle[] = [];
  let expected = 0;
  for (const { dataset, spec } of specs(s)) {
    const specFile = join(dir, `${dataset}.json`);
    writeFileSync(specFile, JSON.stringify(spec, null, 2));
    const out = JSON.parse(await cluster.runOnce(['produce', '--spec', specFile, '--json'])) as { buildId: string; expected: number };
    builds.push({ dataset, specFile, buildId: out.buildId });
    expected += out.expected;
  }
  return { builds, expected };
}

/** One build of the specs on a fresh cluster, under `schedule` (none: fault-free). */
async function runBuild(label: string, root: string, s: Settings, deadline: number, schedule?: PlannedFault[]): Promise<RunOutcome> {
  const dir = join(root, label);
  const cluster = await Cluster.start({ dir, prefix: PREFIX, env: clusterEnv(s) });
  const store = openStore({ endpoint: cluster.s3.endpoint, credentials: { ...EMBEDDED_S3_CREDENTIALS }, bucket: cluster.s3.bucket });
  let injector: FaultInjector | undefined;
  try {
    await startWorkers(cluster, deadline);
    const t0 = Date.now();
    const { builds, expected } = await produceAll(cluster, dir, s);
    const buildIds = builds.map((b) => b.buildId);
    const aggregatorArgs = ['aggregate', ...buildIds, '--until-published', '--lock-ttl-ms', String(s.lockTtlMs), '--flush-interval-ms', '500'];
    cluster.add('aggregator-1', aggregatorArgs, true);
    let rowsBeforeFlush = 0;
    if (schedule) {
      injector = new FaultInjector(
        { cluster, store, builds, prefix: PREFIX, aggregatorArgs, onFlush: async () => void (rowsBeforeFlush += await rowCounters(cluster, buildIds)) },
        s.seed,
        t0,
      );
      void injector.run(schedule);
    }
    await untilPublished(cluster, buildIds, deadline, label);
    const wallSeconds = (Date.now() - t0) / 1000;
    await injector?.cancel();
    await cluster.jobStarts.poll(cluster.admin);
    const rowsWritten = rowsBeforeFlush + (await rowCounters(cluster, buildIds));
    const published = await Promise.all(builds.map((b) => readPublished(store, b.dataset)));
    return {
      wallSeconds,
      expected,
      published,
      jobs: cluster.jobStarts.summary(),
      rowsWritten,
      exits: cluster.exits,
      injected: injector?.injected ?? [],
      notInjected: injector?.notInjected ?? [],
    };
  } finally {
    await injector?.cancel().catch(() => undefined);
    await cluster.stop();
  }
}

/** Poll Redis (through its restarts) until every build is published; past the deadline fail, naming them. */
async function untilPublished(cluster: Cluster, buildIds: string[], deadline: number, label: string): Promise<void> {
  for (;;) {
    await cluster.jobStarts.poll(cluster.admin).catch(() => undefined);
    // Looked at before the states: an aggregator exits only after Redis records its builds published.
    const aggregatorsDone = [...cluster.roles.values()].filter((r) => r.role.startsWith('aggregator-')).every((r) => r.finished);
    const states = await statesOf(cluster, buildIds).catch(() => undefined);
    if (states?.every((st) => st === 'published')) return;
    if (states && aggregatorsDone) {
      // Nothing is left that could publish them: waiting would be a hang.
      throw new Error(
        `chaos: the ${label} run's aggregators all exited reporting their builds published, but Redis says ${buildIds.map((id, i) => `${id}=${states[i]}`).join(', ')}; logs in ${cluster.logDir}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `chaos: the ${label} run did not publish within the time bound (CHAOS_TIMEOUT_S): build states ${buildIds.map((id, i) => `${id}=${states?.[i] ?? '?'}`).join(', ')}; logs in ${cluster.logDir}`,
      );
    }
    await sleep(1000);
  }
}

function clusterEnv(s: Settings): Record<string, string> {
  return {
    ZC_JOB_DEADLINE_MIN_S: String(s.deadlineS),
    ZC_JOB_DEADLINE_S_PER_GIB: '60',
    ZC_WORKER_MEMORY_MB: '3072',
    ZC_HEAVY_MEMORY_MB: '4096',
    // Longer than the outage: a store call in flight waits it out instead of failing.
    S3_RETRY_DEADLINE_MS: String(Math.max(120_000, (s.s3OutageS + 60) * 1000)),
  };
}

function countKinds(faults: readonly InjectedFault[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of faults) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
  return counts;
}

async function main(): Promise<number> {
  const s = settings();
  // The harness's own store client retries through the outage it causes: those are not news.
  logger.level = process.env.LOG_LEVEL ?? 'error';
  const started = Date.now();
  const deadline = started + s.timeoutS * 1000;
  // The bound holds even if a teardown hangs.
  const hardStop = setTimeout(
    () => {
      process.stderr.write(`chaos: FAILED: still running ${s.timeoutS + 120} s after the start (CHAOS_TIMEOUT_S=${s.timeoutS}); giving up\n`);
      process.exit(1);
    },
    (s.timeoutS + 120) * 1000,
  );
  const root = mkdtempSync(join(tmpdir(), 'zcbench-chaos-'));
  let ok = false;
  try {
    process.stderr.write(`chaos: run directory ${root}\nchaos: fault-free build…\n`);
    const faultFree = await runBuild('fault-free', root, s, deadline);
    // Long enough that the faults do not queue for the same few targets; the S3 outage in its middle keeps the build open past it.
    const windowS = s.windowS ?? Math.min(900, Math.max(s.quick ? 30 : 60, 0.8 * faultFree.wallSeconds));
    const schedule = planSchedule(s.seed, {
      windowS,
      s3OutageS: s.s3OutageS,
      deadlineS: s.deadlineS,
      lockTtlS: s.lockTtlMs / 1000,
      counts: s.quick ? QUICK_COUNTS : FULL_COUNTS,
    });
    process.stderr.write(
      `chaos: fault-free build published in ${faultFree.wallSeconds.toFixed(1)} s; chaos build with ${schedule.length} faults over ${windowS.toFixed(0)} s…\n`,
    );
    const chaos = await runBuild('chaos', root, s, deadline, schedule);
    const result = report(s, faultFree, chaos, windowS, (Date.now() - started) / 1000);
    writeResults(RESULTS, result);
    ok = result.lost === 0 && result.duplicated === 0 && result.identical;
    process.stderr.write(
      `chaos: ${result.faults} faults; lost ${result.lost}, duplicated ${result.duplicated}, identical ${result.identical}, ` +
        `recomputed jobs ${result.recomputedJobs}, halved batch ${result.halvedBatch.length}, overhead ${(100 * result.overhead).toFixed(0)} % → ${RESULTS}\n`,
    );
    if (!ok) process.stderr.write(`chaos: FAILED (logs kept in ${root})\n`);
    return ok ? 0 : 1;
  } finally {
    clearTimeout(hardStop);
    if (ok && !s.keep) rmSync(root, { recursive: true, force: true });
  }
}

function report(s: Settings, faultFree: RunOutcome, chaos: RunOutcome, windowS: number, totalSeconds: number) {
  const cmp = compareVersions(faultFree.published, chaos.published);
  const backends = [...new Set(chaos.published.flatMap((p) => p.rows.map((r) => r.backend)))];
  return {
    benchmark: 'chaos',
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { ...machineFacts(), loadavg1m: +loadavg()[0]!.toFixed(2) },
    seed: s.seed,
    quick: s.quick,
    faults: chaos.injected.length,
    lost: cmp.lost,
    duplicated: cmp.duplicated,
    identical: cmp.identical,
    recomputedJobs: chaos.jobs.recomputedJobs,
    overhead: +(chaos.wallSeconds / faultFree.wallSeconds - 1).toFixed(3),
    halvedBatch: cmp.halvedBatch,
    faultsByKind: countKinds(chaos.injected),
    schedule: chaos.injected,
    notInjected: chaos.notInjected,
    durations: {
      faultFreeSeconds: +faultFree.wallSeconds.toFixed(1),
      chaosSeconds: +chaos.wallSeconds.toFixed(1),
      faultWindowSeconds: +windowS.toFixed(1),
      s3OutageSeconds: s.s3OutageS,
      totalSeconds: +totalSeconds.toFixed(1),
      timeoutSeconds: s.timeoutS,
    },
    build: {
      triples: faultFree.expected,
      datasets: specs(s).map((x) => x.spec),
      backends,
      published: Object.fromEntries(chaos.published.map((p) => [p.dataset, { version: p.version, rows: p.rows.length }])),
    },
    comparison: {
      sameBatch: cmp.sameBatch,
      bitIdentical: cmp.bitIdentical,
      extra: cmp.extra,
      mismatches: cmp.mismatches.slice(0, 50),
      mismatchCount: cmp.mismatches.length,
    },
    recomputation: {
      how: "BullMQ's own `active` event (one per start of a job: retries, stall recoveries and the heavy pool's rerun included) counted per job id from the queues' event streams; a job started more than once is recomputed. rowsWritten counts rows workers wrote (the build records' counters, summed over the FLUSHALL): rows beyond one per triple were computed again.",
      chaos: { ...chaos.jobs, rowsWritten: chaos.rowsWritten, rowsBeyondOnePerTriple: chaos.rowsWritten - chaos.expected },
      faultFree: { ...faultFree.jobs, rowsWritten: faultFree.rowsWritten },
    },
    processExits: chaos.exits.filter((e) => !e.injected),
    settings: {
      deadlineS: s.deadlineS,
      lockTtlMs: s.lockTtlMs,
      workers: 'light ×2 (concurrency 2, 1 child), heavy ×1 (concurrency 1, 1 child)',
      aggregatorFlushMs: 500,
    },
  };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
