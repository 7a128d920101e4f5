/**
 * Benchmark of the distributed pipeline's queue path (real Redis, real s3rver, real workers):
 *  1. throughput: 10,000 `params` triples through producer → 2 worker processes → aggregator →
 *     a published version, end to end;
 *  2. Redis memory with 100,000 waiting jobs (messages of one (arch, task) with all 13 proxies,
 *     the default packing; and single-triple messages), sampled while the producer enqueues.
 * Run: npm run bench:queue  →  bench/results/queue.json  (BENCH_ONLY_THROUGHPUT=1: part 1 only, printed)
 * The machine may be shared: the result records the load average, and the CPU seconds each
 * component used, so `triplesPerSecondIfCoresDedicated` shows what the same work needs alone.
 */
import { spawn, type ChildProcess } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { mkdir, writeFile } from 'fs/promises';
import type { Redis } from 'ioredis';
import { cpus, loadavg, tmpdir, totalmem } from 'os';
import { join } from 'path';
import { Aggregator } from '../src/aggregator/aggregator';
import { logger } from '../src/log';
import { produce } from '../src/producer/producer';
import { planBuild } from '../src/producer/spec';
import { connectRedis, redisMemory } from '../src/queue/connection';
import { readBuild } from '../src/queue/build';
import { openQueue } from '../src/queue/queues';
import { startEmbeddedS3 } from '../src/storage/embedded';
import { openStore } from '../src/storage/store';

const ROOT = join(__dirname, '..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = logger.child({ bench: 'queue' }, { level: 'warn' });
const TARGETS = { triplesPerSecond: 1000, redisMbFor100kWaiting: 150 };

async function deleteKeys(redis: Redis, patterns: string[]): Promise<void> {
  for (const match of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 5000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

/** A `zcbench work` process; resolves once it logged that it started. */
function startWorkerProcess(prefix: string, concurrency: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'zcbench.js'), 'work', '--pool', 'light', '--concurrency', String(concurrency), '--metrics-port', '0'],
      {
        cwd: ROOT,
        env: { ...process.env, ZC_FROM_SOURCE: '1', ZC_QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
      if (err.includes('"worker started"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
  });
}

/** CPU seconds a process has used so far (Linux /proc; fields 14 and 15 of stat, in clock ticks). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user') + field('used_cpu_sys_children') + field('used_cpu_user_children');
}

async function throughput(redis: Redis, triples: number): Promise<Record<string, unknown>> {
  const prefix = `bench-q-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'zcbench-bench-s3-'));
  const s3 = await startEmbeddedS3({ dir, bucket: 'zcbench' });
  const store = openStore({ endpoint: s3.endpoint, credentials: s3.credentials, bucket: 'zcbench' });
  const dataset = `bench-queue-${Date.now().toString(36)}`;
  const plan = planBuild({ dataset, spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params'], archs: { sample: triples, seed: 1 } }, ROOT);
  const workers = await Promise.all([startWorkerProcess(prefix, 32), startWorkerProcess(prefix, 32)]);
  const queue = openQueue('light', redis, prefix);
  try {
    const cpu0 = { workers: workers.map((w) => processCpuSeconds(w.pid!)), self: process.cpuUsage(), redis: await redisCpuSeconds(redis) };
    const t0 = performance.now();
    const aggregator = new Aggregator({ redis, prefix, store, log, buildIds: [plan.buildId], untilPublished: true, flushRows: 5000, flushIntervalMs: 500 });
    const aggregated = aggregator.run();
    const produced = await produce({ redis, queue, plan, log });
    const tProduced = performance.now();
    const [published] = await aggregated;
    const t1 = performance.now();
    const self = process.cpuUsage(cpu0.self);
    const cpu = {
      workers: +workers.reduce((s, w, i) => s + processCpuSeconds(w.pid!) - cpu0.workers[i]!, 0).toFixed(2),
      producerAggregatorS3: +((self.user + self.system) / 1e6).toFixed(2),
      redis: +((await redisCpuSeconds(redis)) - cpu0.redis).toFixed(2),
    };
    const cpuTotal = cpu.workers + cpu.producerAggregatorS3 + cpu.redis;
    const seconds = (t1 - t0) / 1000;
    // Wall-clock ms of the first and last row the workers wrote (the build record's counters).
    const record = await readBuild(redis, prefix, plan.buildId);
    const epoch = Date.now() - performance.now();
    return {
      triples: produced.expected,
      messages: produced.enqueuedMessages,
      workers: 2,
      workerConcurrency: 32,
      produceSeconds: +((tProduced - t0) / 1000).toFixed(3),
      lastRowSeconds: +((record.lastRowAt! - epoch - t0) / 1000).toFixed(3),
      workerTriplesPerSecond: Math.round(produced.expected / ((record.lastRowAt! - record.firstRowAt!) / 1000)),
      endToEndSeconds: +seconds.toFixed(3),
      triplesPerSecond: Math.round(produced.expected / seconds),
      cpuSeconds: cpu,
      cpuMsPerTriple: +((1000 * cpuTotal) / produced.expected).toFixed(3),
      // What the same work would take with the machine's cores to itself (other users' load excluded).
      triplesPerSecondIfCoresDedicated: Math.round(produced.expected / (cpuTotal / cpus().length)),
      publishedVersion: published?.result.version,
      publishedRows: published?.result.manifest.rowCount,
      note: 'wall time from the first enqueue to the published version (aggregator segments + Parquet + NASLib json + manifest + latest included); workers started beforehand',
    };
  } finally {
    await queue.close();
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
    await deleteKeys(redis, [`${prefix}:*`]);
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitingMemory(redis: Redis, packing: 'arch-task' | 'triple'): Promise<Record<string, unknown>> {
  const prefix = `bench-m-${Date.now().toString(36)}`;
  // 12,500 cells × 4 tasks × 2 seeds = 100,000 (arch, task, seed) messages of 13 proxies; or 100,000 single triples.
  const spec =
    packing === 'arch-task'
      ? {
          dataset: `bench-mem-${prefix}`,
          spaces: ['nasbench201'],
          tasks: ['cifar10', 'cifar100', 'ImageNet16-120', 'svhn'],
          proxies: 'all',
          seeds: [0, 1],
          archs: { sample: 12500, seed: 3 },
        }
      : {
          dataset: `bench-mem-${prefix}`,
          spaces: ['nasbench201'],
          tasks: ['cifar10', 'cifar100', 'ImageNet16-120', 'svhn'],
          proxies: ['params'],
          seeds: [0, 1],
          archs: { sample: 12500, seed: 3 },
          packing,
        };
  const plan = planBuild(spec, ROOT);
  const sampler = await connectRedis(REDIS_URL);
  const queue = openQueue('light', redis, prefix);
  const before = await redisMemory(redis);
  let peak = before.used;
  const sample = setInterval(() => {
    redisMemory(sampler).then(
      (m) => (peak = Math.max(peak, m.used)),
      () => undefined,
    );
  }, 50);
  try {
    const t0 = performance.now();
    const produced = await produce({ redis, queue, plan, log });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sample);
    const after = await redisMemory(redis);
    peak = Math.max(peak, after.used);
    const waiting = await queue.getWaitingCount();
    return {
      packing,
      waitingJobs: waiting,
      triples: produced.expected,
      enqueueSeconds: +seconds.toFixed(2),
      messagesPerSecond: Math.round(produced.enqueuedMessages / seconds),
      usedMemoryBeforeMb: +(before.used / 2 ** 20).toFixed(1),
      usedMemoryAfterMb: +(after.used / 2 ** 20).toFixed(1),
      usedMemoryPeakSampledMb: +(peak / 2 ** 20).toFixed(1),
      jobsMemoryMb: +((after.used - before.used) / 2 ** 20).toFixed(1),
      bytesPerWaitingJob: Math.round((after.used - before.used) / waiting),
      redisUsedMemoryPeakSinceStartMb: +(after.peak / 2 ** 20).toFixed(1),
    };
  } finally {
    clearInterval(sample);
    sampler.disconnect();
    await queue.obliterate({ force: true });
    await queue.close();
    await deleteKeys(redis, [`${prefix}:*`]);
  }
}

async function main(): Promise<void> {
  const redis = await connectRedis(REDIS_URL);
  try {
    const info = await redis.info('server');
    const run = await throughput(redis, 10_000);
    if (process.env.BENCH_ONLY_THROUGHPUT) {
      process.stdout.write(JSON.stringify(run, null, 2) + '\n');
      return;
    }
    const memory = [await waitingMemory(redis, 'arch-task'), await waitingMemory(redis, 'triple')];
    const result = {
      benchmark: 'queue',
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGb: +(totalmem() / 2 ** 30).toFixed(1),
        loadavg1m: loadavg()[0],
        node: process.version,
        redis: /redis_version:(\S+)/.exec(info)?.[1],
      },
      targets: TARGETS,
      throughput: run,
      waitingJobsMemory: memory,
      met: {
        throughput: (run.triplesPerSecond as number) >= TARGETS.triplesPerSecond,
        redisMemory: memory.every((m) => (m.usedMemoryPeakSampledMb as number) - (m.usedMemoryBeforeMb as number) < TARGETS.redisMbFor100kWaiting),
      },
    };
    await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    await writeFile(join(ROOT, 'bench', 'results', 'queue.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:queue failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
