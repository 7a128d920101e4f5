/**
 * `npm run bench:hybrid`: the hybrid backend's convolution threads (ZC_HYBRID_THREADS). Measures, on
 * 1 thread and on every core: one large convolution (forward), and one Taskonomy grasp job — the
 * kind of job that runs on hybrid — at a reduced batch (BENCH_HYBRID_BATCH, default 4; the real
 * jobs use 32 and take minutes). Checks that the scores agree exactly. Writes bench/results/hybrid.json.
 * Run it on an otherwise idle machine: the speed-up is the point.
 */
import { mkdirSync, writeFileSync } from 'fs';
import { cpus, loadavg } from 'os';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';

const REPS = 5;

function convolutionMs(): number {
  const x = tf.randomNormal([32, 64, 64, 64], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64], 0, 1, 'float32', 2) as tf.Tensor4D;
  const once = () => {
    const y = tf.conv2d(x, w, 1, 'same');
    y.dataSync();
    y.dispose();
  };
  try {
    once(); // warm-up (starts the threads)
    const start = process.hrtime.bigint();
    for (let i = 0; i < REPS; i++) once();
    return Number(process.hrtime.bigint() - start) / 1e6 / REPS;
  } finally {
    tf.dispose([x, w]);
  }
}

async function main(): Promise<void> {
  await initBackend({ backend: 'hybrid' });
  const batchSize = Number(process.env.BENCH_HYBRID_BATCH ?? 4);
  const job = {
    space: 'transbench101_macro' as const,
    task: 'segmentsemantic' as const,
    arch: '(2, 3, 2, 3, 2, 3)',
    proxies: ['grasp' as const],
    seed: 0,
    batchSize,
    data: { source: 'synthetic' as const },
  };
  const runs: { threads: number; convolutionMs: number; graspSeconds: number; graspScore: number }[] = [];
  for (const threads of [...new Set([1, cpus().length])]) {
    await initBackend({ backend: 'hybrid', threads });
    const ms = convolutionMs();
    const start = process.hrtime.bigint();
    const r = await computeProxies(job);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    runs.push({ threads, convolutionMs: ms, graspSeconds: seconds, graspScore: r.results.grasp!.score });
    process.stderr.write(`${threads} thread(s): convolution ${ms.toFixed(0)} ms, grasp job ${seconds.toFixed(1)} s\n`);
  }
  const [one, all] = [runs[0]!, runs[runs.length - 1]!];
  const out = {
    benchmark: `hybrid backend threads: conv2d [32,64,64,64]*[3,3,64,64] (4.8 GMAC), and ${job.space} ${job.task} ${job.arch} grasp at batch ${batchSize}`,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavgAtEnd: loadavg()[0], node: process.version },
    runs,
    convolutionSpeedup: one.convolutionMs / all.convolutionMs,
    graspSpeedup: one.graspSeconds / all.graspSeconds,
    scoresEqual: runs.every((r) => r.graspScore === one.graspScore),
    date: new Date().toISOString(),
  };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results', 'hybrid.json'), JSON.stringify(out, null, 2) + '\n');
  if (!out.scoresEqual) throw new Error(`grasp differs between 1 and ${all.threads} threads: ${runs.map((r) => r.graspScore).join(' vs ')}`);
}

main().catch((err) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
