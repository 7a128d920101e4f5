/**
 * `npm run bench`: all 13 proxies on ten NB201 architectures, CIFAR-10, batch 64 (the paper's
 * setting), one process. Writes bench/results/nb201.json: per-arch wall time, per-proxy standalone
 * times, the backend, and the median. NASLib's PyTorch code on these 2-core machines: 8.46 s median.
 */
import { writeFileSync, mkdirSync } from 'fs';
import { join } from 'path';
import { cpus, totalmem } from 'os';
import { initBackend } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import { PROXIES } from '../src/core/names';

const ARCHS = [
  '(0, 0, 0, 0, 0, 0)', '(4, 4, 4, 4, 4, 4)', '(4, 0, 4, 1, 2, 0)', '(4, 0, 3, 1, 4, 3)', '(3, 3, 3, 3, 3, 3)',
  '(1, 2, 3, 2, 1, 4)', '(2, 2, 3, 2, 1, 0)', '(0, 2, 3, 2, 3, 1)', '(2, 3, 2, 0, 2, 3)', '(2, 2, 2, 2, 2, 2)',
];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const batchSize = Number(process.env.BENCH_BATCH ?? 64);
  const backend = await initBackend();
  const perArch: { arch: string; seconds: number; proxies: Record<string, { score: number; time: number }> }[] = [];
  for (const arch of ARCHS) {
    const start = process.hrtime.bigint();
    const r = await computeProxies({ space: 'nasbench201', task: 'cifar10', arch, proxies: [...PROXIES], seed: 0, batchSize, data: { source: 'synthetic' } });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    perArch.push({ arch, seconds, proxies: r.results as Record<string, { score: number; time: number }> });
    process.stderr.write(`${arch}  ${seconds.toFixed(2)} s  (grasp alone ${r.results.grasp!.time.toFixed(2)} s)\n`);
  }
  const perProxyMedian: Record<string, number> = {};
  for (const p of PROXIES) perProxyMedian[p] = median(perArch.map((a) => a.proxies[p]!.time));
  const out = {
    benchmark: 'nb201 all 13 proxies, cifar10, synthetic data, one process',
    batchSize,
    backend,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: totalmem() / 2 ** 30, node: process.version },
    medianSecondsPerArch: median(perArch.map((a) => a.seconds)),
    reference: { naslibPyTorchMedianSecondsPerArch: 8.46, naslibGraspSeconds: 2.8, naslibH100SecondsPerArch: 3.03 },
    perProxyStandaloneMedianSeconds: perProxyMedian,
    perArch,
    date: new Date().toISOString(),
  };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results', 'nb201.json'), JSON.stringify(out, null, 2) + '\n');
  process.stderr.write(`median ${out.medianSecondsPerArch.toFixed(2)} s per arch on ${backend} → bench/results/nb201.json\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
