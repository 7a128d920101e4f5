/**
 * `npm run bench`: the 13 proxies on ten NB201 architectures, CIFAR-10, batch 64 (the paper's
 * setting), one process, synthetic data. Writes bench/results/nb201.json: per-arch wall time,
 * per-proxy standalone times, the backend, and the median. NASLib's PyTorch code on these 2-core
 * machines: 8.46 s median per arch.
 *
 * Backward passes that would not fit wasm's 4 GiB at batch 64 recompute their segments (memory.ts),
 * so every proxy runs at 64 on wasm. Should a plan still exceed the backend's memory, that proxy is
 * measured at the largest batch (32, 16, …) that fits, with the other proxies of that batch, and the
 * file records each proxy's batch.
 */
import { writeFileSync, mkdirSync } from 'fs';
import { dirname, join } from 'path';
import { cpus, loadavg, totalmem } from 'os';
import { backendSettings } from '../src/config';
import { initBackend } from '../src/core/backend';
import { backendCapacity, computeProxies, estimateJobMemory } from '../src/core/compute';
import { PROXIES, type ProxyName } from '../src/core/names';

const ARCHS = [
  '(0, 0, 0, 0, 0, 0)',
  '(4, 4, 4, 4, 4, 4)',
  '(4, 0, 4, 1, 2, 0)',
  '(4, 0, 3, 1, 4, 3)',
  '(3, 3, 3, 3, 3, 3)',
  '(1, 2, 3, 2, 1, 4)',
  '(2, 2, 3, 2, 1, 0)',
  '(0, 2, 3, 2, 3, 1)',
  '(2, 3, 2, 0, 2, 3)',
  '(2, 2, 2, 2, 2, 2)',
];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const batchSize = Number(process.env.BENCH_BATCH ?? 64);
  const count = process.env.BENCH_ARCHS ? Number(process.env.BENCH_ARCHS) : ARCHS.length;
  if (!(Number.isInteger(count) && count >= 1))
    throw new Error(`BENCH_ARCHS must be a count of architectures from 1 to ${ARCHS.length}, not ${process.env.BENCH_ARCHS}`);
  const archs = ARCHS.slice(0, count);
  const backend = await initBackend(backendSettings());
  const capacity = backendCapacity(backend);
  const base = { space: 'nasbench201' as const, task: 'cifar10' as const, seed: 0, data: { source: 'synthetic' as const } };
  const perArch: {
    arch: string;
    seconds: number;
    batchSizes: Record<string, number>;
    backends: string[];
    proxies: Record<string, { score: number; time: number }>;
  }[] = [];
  for (const arch of archs) {
    const start = process.hrtime.bigint();
    const fits = (proxies: ProxyName[], b: number) => estimateJobMemory({ ...base, arch, batchSize: b, proxies }) <= capacity;
    // Each proxy's batch: 64, or the largest that fits; proxies sharing a batch run together.
    const batchSizes: Record<string, number> = {};
    for (const p of PROXIES) {
      let b = batchSize;
      while (b > 1 && !fits([p], b)) b = Math.floor(b / 2);
      batchSizes[p] = b;
    }
    let results: Partial<Record<ProxyName, { score: number; time: number }>> = {};
    const backends: string[] = [];
    for (const b of [...new Set(Object.values(batchSizes))].sort((x, y) => y - x)) {
      const group = PROXIES.filter((p) => batchSizes[p] === b);
      const r = await computeProxies({ ...base, arch, proxies: group, batchSize: b });
      results = { ...results, ...r.results };
      backends.push(r.backend);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    perArch.push({ arch, seconds, batchSizes, backends, proxies: results as Record<string, { score: number; time: number }> });
    const smaller = Object.entries(batchSizes)
      .filter(([, b]) => b < batchSize)
      .map(([p, b]) => `${p}@${b}`);
    process.stderr.write(
      `${arch}  ${seconds.toFixed(2)} s  (grasp alone ${results.grasp!.time.toFixed(2)} s${smaller.length ? `; smaller batch: ${smaller.join(' ')}` : ''})\n`,
    );
  }
  const perProxyMedian: Record<string, number> = {};
  for (const p of PROXIES) perProxyMedian[p] = median(perArch.map((a) => a.proxies[p]!.time));
  const out = {
    benchmark: 'nb201: 13 proxies, cifar10, synthetic data, one process',
    batchSize,
    backend,
    note:
      backend === 'wasm'
        ? 'wasm addresses 4 GiB: a proxy whose estimated peak at batchSize does not fit runs at the largest batch that fits (perArch[].batchSizes), together with the proxies of that batch'
        : 'all proxies at batchSize',
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadAverageAtEnd: loadavg(),
    },
    medianSecondsPerArch: median(perArch.map((a) => a.seconds)),
    reference: { naslibPyTorchMedianSecondsPerArch: 8.46, naslibGraspSeconds: 2.8, naslibH100SecondsPerArch: 3.03 },
    perProxyStandaloneMedianSeconds: perProxyMedian,
    perArch,
    date: new Date().toISOString(),
  };
  // BENCH_OUT: another file (bench:heavy records a sitting's median without replacing nb201.json).
  const file = process.env.BENCH_OUT ?? join(__dirname, 'results', 'nb201.json');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stderr.write(`median ${out.medianSecondsPerArch.toFixed(2)} s per arch on ${backend} → ${file}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
