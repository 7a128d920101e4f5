/**
 * `npm run bench:new-proxies`: the newer built-in proxies (zico, meco, swap and az_nas's four parts).
 *   spaces:   each proxy alone on every search space (its first task, the paper's batch size,
 *             NEW_SPACE_ARCHS released architectures), one job per child process: wall seconds and peak RSS;
 *   accuracy: Spearman of each with NB201 cifar10 val_accuracy of the released subset
 *             (test/fixtures/reference/zc_nasbench201_subset.json) on the demo's cells (the first
 *             DEMO_CELLS of the subset, as `npm run demo:extend` takes them) and on NEW_ARCHS cells
 *             spread over it; az_nas's combined score is made over each population as a version's is.
 * Writes bench/results/new-proxies.json; accuracy rows go to bench/results/new-proxies-rows.jsonl
 * as they are computed, so a stopped run resumes. Values need no idle machine; the seconds of the
 * spaces part do (the load average at its start is recorded).
 *
 * Options (environment): NEW_PART (spaces,accuracy), NEW_ARCHS (200), DEMO_CELLS (8), NEW_BATCH (64),
 * NEW_SPACE_ARCHS (2: architectures per space in the spaces part).
 */
import { appendFileSync, existsSync, readFileSync } from 'fs';
import { loadavg } from 'os';
import { join } from 'path';
import { backendSettings } from '../src/config';
import { initBackend } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import { AZ_NAS, AZ_NAS_PARTS, NEWER_PROXIES, SPACES, SPACE_TASKS, defaultBatchSize, type BuiltInProxyName } from '../src/core/names';
import { spearman } from '../src/report/stats';
import { azNasRows } from '../src/storage/az-nas-rows';
import { openDataset } from '../src/storage/dataset';
import type { StoredRow } from '../src/storage/parquet';
import { architectures, pick } from './lib/archs';
import { describeJob, gitCommit, machineFacts, previousResults, runChildIfAsked, runJobInChild, writeResults, type BenchJobResult } from './lib/child-jobs';

const RESULTS = join(__dirname, 'results', 'new-proxies.json');
const ROWS = join(__dirname, 'results', 'new-proxies-rows.jsonl');
const REFERENCE = join(__dirname, '..', 'test', 'fixtures', 'reference', 'zc_nasbench201_subset.json');
/** One job per proxy; az_nas's four parts share their passes, so they are one job. */
const JOBS: BuiltInProxyName[][] = [['zico'], ['meco'], ['swap'], [...AZ_NAS_PARTS]];

/**
 * What the authors report, as their abstracts state it (whole-space correlations, their own batch
 * sizes and data); where an abstract gives no NB201 figure, the paper's table was not re-read here.
 */
const AUTHORS: Record<string, string> = {
  zico: 'ZiCo (ICLR 2023): abstract gives no NB201 figure',
  meco: 'MeCo (NeurIPS 2023) abstract: 0.89 on NATS-Bench-TSS (NB201) CIFAR-10',
  swap: 'SWAP (ICLR 2024) abstract: Spearman 0.90 for the regularised score on NB201 CIFAR-100 (zcbench ships the plain one)',
  az_nas: 'AZ-NAS (CVPR 2024): abstract gives no NB201 figure',
};

interface Results {
  benchmark: string;
  commit: string;
  machine: ReturnType<typeof machineFacts>;
  spaces: { loadAverage1m: number; jobs: BenchJobResult[] };
  accuracy: {
    batchSize: number;
    cells: Record<string, number>;
    spearman: Record<string, Record<string, { value: number; n: number }>>;
    authors: Record<string, string>;
  };
}

async function spacesPart(previous: Partial<Results>): Promise<Results['spaces']> {
  const jobs = previous.spaces?.jobs ?? [];
  const done = new Set(jobs.filter((j) => !j.error).map((j) => describeJob(j)));
  const load = loadavg()[0]!;
  for (const space of SPACES) {
    const task = SPACE_TASKS[space][0]!;
    for (const arch of pick(architectures(space, task), Number(process.env.NEW_SPACE_ARCHS ?? 2))) {
      for (const proxies of JOBS) {
        const job = { space, task, arch, batchSize: defaultBatchSize(task), proxies };
        if (done.has(describeJob(job))) continue;
        const r = await runJobInChild(__filename, job, 2);
        process.stderr.write(`${describeJob(job)}: ${r.error ?? `${r.seconds.toFixed(1)} s, ${Math.round(r.peakRssMB)} MB`}\n`);
        const at = jobs.findIndex((j) => describeJob(j) === describeJob(job));
        if (at >= 0) jobs[at] = r;
        else jobs.push(r);
        writeResults(RESULTS, { ...previous, spaces: { loadAverage1m: load, jobs } });
      }
    }
  }
  return { loadAverage1m: load, jobs };
}

function readRows(): StoredRow[] {
  if (!existsSync(ROWS)) return [];
  return readFileSync(ROWS, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as StoredRow);
}

async function accuracyPart(): Promise<Results['accuracy']> {
  const nArchs = Number(process.env.NEW_ARCHS ?? 200);
  const demoCells = Number(process.env.DEMO_CELLS ?? 8);
  const batchSize = Number(process.env.NEW_BATCH ?? 64);
  const reference = await openDataset(REFERENCE);
  const subset = reference.archs('nasbench201', 'cifar10');
  const step = Math.max(1, Math.floor(subset.length / nArchs));
  const spread = subset.filter((_, i) => i % step === 0).slice(0, nArchs);
  const populations: Record<string, string[]> = { [`demo (${demoCells})`]: subset.slice(0, demoCells), [`spread (${spread.length})`]: spread };
  const rows = readRows().filter((r) => r.batchSize === batchSize);
  const done = new Set(rows.map((r) => `${r.arch}\u0000${r.proxy}`));
  const archs = [...new Set(Object.values(populations).flat())];
  const backend = await initBackend(backendSettings());
  process.stderr.write(`${archs.length} NB201 cells at batch ${batchSize} on ${backend}; ${rows.length} rows from ${ROWS}\n`);
  for (const [i, arch] of archs.entries()) {
    const todo = NEWER_PROXIES.filter((p) => !done.has(`${arch}\u0000${p}`));
    if (todo.length === 0) continue;
    const start = Date.now();
    const r = await computeProxies({ space: 'nasbench201', task: 'cifar10', arch, proxies: [...todo], seed: 0, batchSize, data: { source: 'synthetic' } });
    for (const proxy of todo) {
      const res = r.results[proxy]!;
      const row: StoredRow = {
        ...{ tripleId: `${arch}-${proxy}-${batchSize}`, space: 'nasbench201', task: 'cifar10', arch, proxy, seed: 0, batchSize },
        ...{ status: 'ok', score: res.score, time: res.time, backend: r.backend, dataSource: 'synthetic', dataSha256: r.data.sha256 },
        ...{ fingerprint: 'bench', valAccuracy: null },
      };
      rows.push(row);
      appendFileSync(ROWS, JSON.stringify(row) + '\n');
    }
    process.stderr.write(`${i + 1}/${archs.length} ${arch} ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
  }
  const spearmanOf: Results['accuracy']['spearman'] = {};
  for (const [name, cells] of Object.entries(populations)) {
    const members = new Set(cells);
    const own = rows.filter((r) => members.has(r.arch));
    // az_nas ranks across the population: made from this population's parts, as a version's is.
    const all = [...own, ...azNasRows(own)];
    spearmanOf[name] = {};
    for (const proxy of [...NEWER_PROXIES, AZ_NAS]) {
      const pairs = all.filter((r) => r.proxy === proxy && r.score !== null);
      const acc = pairs.map((r) => reference.valAccuracy('nasbench201', 'cifar10', r.arch) ?? NaN);
      spearmanOf[name][proxy] = spearman(
        pairs.map((r) => r.score!),
        acc,
      );
    }
  }
  return { batchSize, cells: Object.fromEntries(Object.entries(populations).map(([k, v]) => [k, v.length])), spearman: spearmanOf, authors: AUTHORS };
}

async function main(): Promise<void> {
  const parts = (process.env.NEW_PART ?? 'spaces,accuracy').split(',');
  const previous = previousResults<Results>(RESULTS);
  const out: Partial<Results> = {
    ...previous,
    benchmark: 'newer built-in proxies: time and peak RSS per space (each alone, in a child), Spearman with NB201 cifar10 val_accuracy',
    commit: gitCommit(),
    machine: machineFacts(),
  };
  if (parts.includes('spaces')) out.spaces = await spacesPart(out);
  if (parts.includes('accuracy')) out.accuracy = await accuracyPart();
  writeResults(RESULTS, out);
  if (out.accuracy) process.stdout.write(`${JSON.stringify(out.accuracy.spearman, null, 2)}\n`);
}

if (!runChildIfAsked()) {
  main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
