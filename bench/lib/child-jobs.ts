/**
 * One compute job per child process, for the long benchmarks (smoke:tasks, bench:heavy): a crash
 * or an out-of-memory kill costs that job only, and the child's peak RSS (the kernel's maxRSS) is the
 * job's own. Results files are rewritten after every job and reruns resume from them.
 */
import { execFileSync, spawn } from 'child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { cpus, totalmem } from 'os';
import { dirname } from 'path';
import { backendSettings } from '../../src/config';
import { initBackend } from '../../src/core/backend';
import { computeProxies } from '../../src/core/compute';
import type { BuiltInProxyName, SpaceName, TaskName } from '../../src/core/names';

export interface BenchJob {
  space: SpaceName;
  task: TaskName;
  arch: string;
  batchSize: number;
  proxies: BuiltInProxyName[];
  /** Bytes the job may hold in all (a heavy pod's memory): bounds a split between wasm heaps. */
  memoryBudget?: number;
}

export interface BenchJobResult extends BenchJob {
  backend?: string;
  /** wasm heaps its backward passes split the minibatch between (1: not split). */
  shards?: number;
  seconds: number;
  peakRssMB: number;
  results?: Partial<Record<BuiltInProxyName, { score: number; time: number }>>;
  error?: string;
  date: string;
  /**
   * Cores the job kept busy: hybrid's convolution threads (ZC_HYBRID_THREADS), a sharded wasm job's
   * shards (at most the cores), 1 for an unsplit wasm job.
   */
  threads: number;
}

/** Runs in the child: one job, its result as JSON on stdout. */
async function childMain(job: BenchJob): Promise<void> {
  const start = process.hrtime.bigint();
  await initBackend(backendSettings()); // ZC_HYBRID_THREADS, set by runJobInChild
  const r = await computeProxies({ ...job, seed: 0, data: { source: 'synthetic' } });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const shards = r.shards ?? 1;
  const threads = r.backend === 'wasm' ? Math.min(shards, cpus().length) : Number(process.env.ZC_HYBRID_THREADS);
  process.stdout.write(
    JSON.stringify({ backend: r.backend, shards, threads, seconds, results: r.results, peakRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n',
  );
}

/**
 * Call first thing in a bench script that runs jobs in children: in the child (started by
 * runJobInChild with `--child JOB`) it runs the job and returns true; in the parent it returns false.
 */
export function runChildIfAsked(): boolean {
  if (process.argv[2] !== '--child') return false;
  childMain(JSON.parse(process.argv[3]!) as BenchJob).catch((err) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
  return true;
}

/** Run `job` in a child of `script` (a bench file that calls runChildIfAsked) on `threads` cores. */
export function runJobInChild(script: string, job: BenchJob, threads: number): Promise<BenchJobResult> {
  const start = Date.now();
  const proc = spawn(process.execPath, [...process.execArgv, script, '--child', JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // One job at a time on every core, as a heavy pod runs them: hybrid's convolutions on `threads`
    // threads, a wasm job split between at least as many heaps where each fits.
    env: { ...process.env, ZC_HYBRID_THREADS: String(threads), ZC_WASM_MIN_SHARDS: process.env.ZC_WASM_MIN_SHARDS ?? String(threads) },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  // Keep only the head of stderr: wasm aborts print their whole module source.
  proc.stderr.on('data', (d: Buffer) => stderr.length < 1 << 16 && (stderr += d.toString()));
  return new Promise((resolve) => {
    proc.on('close', (status, signal) => {
      const seconds = (Date.now() - start) / 1000;
      const date = new Date().toISOString();
      const line = stdout.trim().split('\n').pop() ?? '';
      if (status === 0 && line.startsWith('{')) return resolve({ ...job, threads, ...JSON.parse(line), date });
      const reason = stderr.split('\n').find((l) => /error|abort|killed|memory/i.test(l)) ?? `exit ${status ?? signal}`;
      resolve({ ...job, seconds, peakRssMB: NaN, error: reason.slice(0, 300), threads, date });
    });
  });
}

/** The short commit of the checkout, or '' outside git. */
export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function machineFacts(): { cpus: number; cpuModel?: string; memoryGiB: number; node: string } {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

/** A results file written before (its jobs and anything else it keeps), or {} when there is none. */
export function previousResults<T extends object>(file: string): Partial<T> {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<T>) : {};
}

export function writeResults(file: string, out: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
}

export const describeJob = (job: BenchJob): string =>
  `${job.space} ${job.task} ${job.arch.slice(0, 60)} ${job.proxies.length === 1 ? job.proxies[0] : `${job.proxies.length} proxies`} @${job.batchSize}`;
