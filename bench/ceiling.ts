/**
 * `npm run bench:ceiling`: how fast this machine's cores run the kernels a Taskonomy job spends its
 * time in, for zcbench's wasm kernels and for PyTorch (what NASLib runs), in one sitting, alternating,
 * on the same shapes: a 3×3 convolution forward, its backward (input and filter gradients), and
 * training-mode batch norm + ReLU forward and backward. Per-kernel ratios bound what any scheduling
 * of a whole job can reach: if a core's convolution runs k× slower under wasm's 128-bit SIMD than
 * under PyTorch's AVX-512 kernels, a job whose time is convolutions runs ≥ k× slower on the same cores.
 * Writes bench/results/ceiling.json. Needs Debian's python3-torch (skips PyTorch, saying so, without it).
 * Run it on an otherwise idle machine.
 */
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { cpus, loadavg } from 'os';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import { Rng } from '../src/core/rng';

interface Shape {
  name: string;
  x: [number, number, number, number];
  cout: number;
  stride: number;
}

/** Shapes of TNB-micro/macro cells at 256×256 input (channels 64 at 64×64 and 128 at 32×32; the stem's 128×128), batch 8. */
const SHAPES: Shape[] = [
  { name: 'stem-level 128x128x32 → 32', x: [8, 128, 128, 32], cout: 32, stride: 1 },
  { name: 'cell 64x64x64 → 64', x: [8, 64, 64, 64], cout: 64, stride: 1 },
  { name: 'cell 32x32x128 → 128', x: [8, 32, 32, 128], cout: 128, stride: 1 },
  { name: 'reduction 64x64x64 → 128, stride 2', x: [8, 64, 64, 64], cout: 128, stride: 2 },
];
const PAD: [[number, number], [number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

function randn(rng: Rng, shape: number[]): tf.Tensor {
  return tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1))), shape);
}

function medianSeconds(run: () => tf.Tensor | tf.Tensor[], reps: number): number {
  const once = () => {
    const start = process.hrtime.bigint();
    const out = run();
    for (const t of Array.isArray(out) ? out : [out]) {
      t.dataSync();
      t.dispose();
    }
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  once();
  const times = Array.from({ length: reps }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Training-mode batch norm + ReLU as the networks compute it (tensor.ts's batchNorm), forward and backward. */
function batchNormRelu(y: tf.Tensor, dy: tf.Tensor): tf.Tensor[] {
  return tf.tidy(() =>
    tf.grads((z: tf.Tensor) => {
      const { mean, variance } = tf.moments(z, [0, 1, 2]);
      return tf.relu(tf.mul(tf.sub(z, mean), tf.rsqrt(tf.add(variance, 1e-5))));
    })([y], dy),
  );
}

function zcbenchRow(s: Shape, reps: number): Record<string, number> {
  const rng = new Rng(`ceiling ${s.name}`);
  const cin = s.x[3];
  const x = randn(rng, s.x) as tf.Tensor4D;
  const filter = randn(rng, [3, 3, cin, s.cout]) as tf.Tensor4D;
  const y = tf.conv2d(x, filter, s.stride, PAD);
  const dy = randn(rng, y.shape);
  try {
    return {
      forward: medianSeconds(() => tf.conv2d(x, filter, s.stride, PAD), reps),
      backward: medianSeconds(
        () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s.stride, PAD))([x, filter], dy),
        reps,
      ),
      batchNormRelu: medianSeconds(() => batchNormRelu(y, dy), reps),
    };
  } finally {
    tf.dispose([x, filter, y, dy]);
  }
}

function torchRows(threads: number, reps: number): { torch: string; rows: Record<string, number>[] } | { skipped: string } {
  // Debian's python3-torch lives under /usr/bin/python3 (a pyenv python3 may come first on PATH).
  const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const r = spawnSync(python, [join(__dirname, 'lib', 'torch_kernels.py')], { input: JSON.stringify({ threads, reps, shapes: SHAPES }), encoding: 'utf8' });
  if (r.status !== 0)
    return { skipped: `python3 with torch failed (${(r.stderr || String(r.error)).trim().split('\n').pop()}): install Debian's python3-torch` };
  return JSON.parse(r.stdout);
}

const flopsOf = (s: Shape) => 2 * s.x[0] * (s.x[1] / s.stride) * (s.x[2] / s.stride) * s.x[3] * s.cout * 9;
const round = (v: number, digits = 3) => Number(v.toPrecision(digits));

async function main(): Promise<void> {
  const reps = Number(process.env.BENCH_REPS ?? 5);
  await initBackend({ backend: 'wasm' });
  const ours = SHAPES.map((s) => zcbenchRow(s, reps));
  const torch1 = torchRows(1, reps);
  const torch2 = torchRows(cpus().length, reps);
  const ours2 = SHAPES.map((s) => zcbenchRow(s, reps)); // second pass: the sitting's drift shows as the spread
  const rows = SHAPES.map((s, i) => {
    const wasm = {
      forward: Math.min(ours[i]!.forward!, ours2[i]!.forward!),
      backward: Math.min(ours[i]!.backward!, ours2[i]!.backward!),
      batchNormRelu: Math.min(ours[i]!.batchNormRelu!, ours2[i]!.batchNormRelu!),
    };
    const t1 = 'rows' in torch1 ? torch1.rows[i]! : undefined;
    const t2 = 'rows' in torch2 ? torch2.rows[i]! : undefined;
    const gflops = (sec: number, mult = 1) => round((flopsOf(s) * mult) / sec / 1e9);
    return {
      shape: s.name,
      x: s.x,
      cout: s.cout,
      stride: s.stride,
      gflop: round(flopsOf(s) / 1e9),
      wasm1Thread: { forwardGflops: gflops(wasm.forward), backwardGflops: gflops(wasm.backward, 2), batchNormReluSeconds: round(wasm.batchNormRelu) },
      torch1Thread: t1 && { forwardGflops: gflops(t1.forward!), backwardGflops: gflops(t1.backward!, 2), batchNormReluSeconds: round(t1.batchNormRelu!) },
      torchAllThreads: t2 && { forwardGflops: gflops(t2.forward!), backwardGflops: gflops(t2.backward!, 2), batchNormReluSeconds: round(t2.batchNormRelu!) },
      // Per-core time ratios, zcbench ÷ PyTorch (> 1: wasm slower on one core).
      ratio1Thread: t1 && {
        forward: round(wasm.forward / t1.forward!),
        backward: round(wasm.backward / t1.backward!),
        batchNormRelu: round(wasm.batchNormRelu / t1.batchNormRelu!),
      },
    };
  });
  const out = {
    benchmark: 'per-core kernel throughput at Taskonomy shapes (batch 8): zcbench wasm (XNNPACK, 128-bit SIMD, 1 thread) vs PyTorch CPU, one sitting',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, flags: cpuFlags(), loadavgAtEnd: loadavg(), node: process.version },
    torch: 'rows' in torch1 ? { version: torch1.torch } : torch1,
    date: new Date().toISOString(),
    rows,
  };
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ceiling.json'), JSON.stringify(out, null, 2) + '\n');
  for (const r of rows) process.stdout.write(`${r.shape}: ${JSON.stringify(r.ratio1Thread ?? 'no torch')}\n`);
}

/** The SIMD extensions the cores offer (what PyTorch's kernels can use and wasm's cannot). */
function cpuFlags(): string[] {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = /^flags\s*:(.*)$/m.exec(info)?.[1]?.trim().split(/\s+/) ?? [];
    return flags.filter((f) => /^(avx|fma|sse4)/.test(f));
  } catch {
    return [];
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
