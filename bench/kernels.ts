/**
 * Convolution kernels at NB201 shapes, batch 64: GFLOP/s of the forward conv, the input gradient
 * and the filter gradient on wasm and cpu: ours, the backends' shipped kernels we replaced, and
 * the formulations we rejected.
 * Also records the wasm configuration (SIMD, threads) and the machine's load.
 * Run: npx tsx bench/kernels.ts  →  bench/results/kernels.json   (BENCH_CPU=0 skips the slow cpu rows)
 */
import { mkdirSync, writeFileSync } from 'fs';
import { cpus, loadavg } from 'os';
import { join } from 'path';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { initBackend, tf } from '../src/core/backend';
import { replacedKernels } from '../src/core/kernels/util';
import { Rng } from '../src/core/rng';

type T = tf.Tensor;

interface Shape {
  name: string;
  x: [number, number, number, number];
  cout: number;
  stride: number;
  /** Also time the cpu backend (its shipped filter gradient takes minutes on large shapes). */
  cpu?: boolean;
}

const SHAPES: Shape[] = [
  { name: 'cell 32x32x16 → 16', x: [64, 32, 32, 16], cout: 16, stride: 1, cpu: true },
  { name: 'cell 16x16x32 → 32', x: [64, 16, 16, 32], cout: 32, stride: 1, cpu: true },
  { name: 'cell 8x8x64 → 64', x: [64, 8, 8, 64], cout: 64, stride: 1, cpu: true },
  { name: 'reduction 32x32x16 → 32, stride 2', x: [64, 32, 32, 16], cout: 32, stride: 2, cpu: true },
  { name: 'large 32x32x64 → 64', x: [64, 32, 32, 64], cout: 64, stride: 1 },
];
const PAD: [[number, number], [number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

function randn(rng: Rng, shape: number[]): T {
  const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
  return tf.tensor(rng.fillNormal(v), shape);
}

/** Median seconds of `reps` runs after a warm-up run; each run reads its result back (wasm is synchronous anyway). */
function time(run: () => T, reps: number, warmUp = true): number {
  const once = () => {
    const start = process.hrtime.bigint();
    const out = run();
    out.dataSync();
    out.dispose();
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  if (warmUp) once();
  const times = Array.from({ length: reps }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** The active backend's own kernel (replaced by ours), run directly for comparison. */
function shipped(kernel: string, inputs: Record<string, T>, attrs: object): T {
  const config = replacedKernels.get(`${tf.getBackend()}/${kernel}`)!;
  const backend = tf.backend();
  const info = config.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend }) as tf.TensorInfo;
  return tf.engine().makeTensorFromTensorInfo(info); // as the engine adopts a kernel's output
}

async function main(): Promise<void> {
  const includeCpu = process.env.BENCH_CPU !== '0';
  const reps = Number(process.env.BENCH_REPS ?? 5);
  await initBackend({ backend: 'wasm' });
  const setup = replacedKernels.get(`wasm/${tf.Conv2DBackpropInput}`)?.setupFunc;
  setup?.(tf.backend()); // the shipped kernel was replaced before wasm initialised: wire it for the comparison
  const wasmConfig = {
    simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    multithreadSupport: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    threads: getThreadsCount(),
  };
  const rows: Record<string, unknown>[] = [];
  for (const s of SHAPES) {
    const rng = new Rng(`bench ${s.name}`);
    const [n, h, w, cin] = s.x;
    const oh = h / s.stride;
    const ow = w / s.stride;
    const flops = 2 * n * oh * ow * cin * s.cout * 9;
    const xv = randn(rng, s.x);
    const wv = randn(rng, [3, 3, cin, s.cout]);
    const dyv = randn(rng, [n, oh, ow, s.cout]);
    const x = xv as tf.Tensor4D;
    const filter = wv as tf.Tensor4D;
    const dy = dyv as tf.Tensor4D;
    const inputAttrs = { strides: s.stride, pad: PAD, dataFormat: 'NHWC', inputShape: s.x };
    const filterAttrs = { strides: s.stride, pad: PAD, dataFormat: 'NHWC', filterShape: [3, 3, cin, s.cout] };
    const run = (kernel: string, inputs: Record<string, T>, attrs: object) => () => tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap) as T;
    const gflops = (seconds: number) => Number((flops / seconds / 1e9).toPrecision(3));

    const wasm: Record<string, number> = {
      forward: gflops(time(() => tf.conv2d(x, filter, s.stride, PAD), reps)),
      inputGrad: gflops(time(run(tf.Conv2DBackpropInput, { dy, filter }, inputAttrs), reps)),
      inputGradShipped: gflops(time(() => shipped(tf.Conv2DBackpropInput, { dy, filter }, inputAttrs), reps)),
      filterGrad: gflops(time(run(tf.Conv2DBackpropFilter, { x, dy }, filterAttrs), reps)),
      // Rejected formulations of the filter gradient, for the record.
      filterGradIm2colMatMul: gflops(
        time(
          () =>
            tf.tidy(() => {
              const xp = tf.pad(x, PAD);
              const cols: T[] = [];
              for (let i = 0; i < 3; i++) {
                for (let j = 0; j < 3; j++)
                  cols.push(tf.stridedSlice(xp, [0, i, j, 0], [n, i + (oh - 1) * s.stride + 1, j + (ow - 1) * s.stride + 1, cin], [1, s.stride, s.stride, 1]));
              }
              const patches = tf.reshape(tf.concat(cols, 3), [n * oh * ow, 9 * cin]);
              return tf.matMul(patches, tf.reshape(dy, [n * oh * ow, s.cout]), true, false);
            }),
          reps,
        ),
      ),
      filterGradConv3DBackpropFilterV2: gflops(
        time(
          () =>
            tf.tidy(
              () =>
                tf
                  .engine()
                  .runKernel(
                    tf.Conv3DBackpropFilterV2,
                    { x: tf.reshape(tf.pad(x, PAD), [n, 1, h + 2, w + 2, cin]), dy: tf.reshape(dy, [n, 1, oh, ow, s.cout]) },
                    { strides: [1, s.stride, s.stride], pad: 'valid', filterShape: [1, 3, 3, cin, s.cout] } as unknown as tf.NamedAttrMap,
                  ) as T,
            ),
          Math.min(reps, 2),
        ),
      ),
    };
    let cpu: Record<string, number> | undefined;
    if (includeCpu && s.cpu) {
      const values = [xv, wv, dyv].map((t) => ({ data: t.dataSync().slice(), shape: t.shape as number[] }));
      await tf.setBackend('cpu');
      const [xc, wc, dyc] = values.map((v) => tf.tensor(v.data, v.shape as [number, number, number, number])) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const cpuReps = 1;
      cpu = {
        forward: gflops(time(() => tf.conv2d(xc, wc, s.stride, PAD), cpuReps)),
        inputGrad: gflops(time(run(tf.Conv2DBackpropInput, { dy: dyc, filter: wc }, inputAttrs), cpuReps)),
        filterGrad: gflops(time(run(tf.Conv2DBackpropFilter, { x: xc, dy: dyc }, filterAttrs), cpuReps)),
        // ~30 s a call at these shapes: one run, no warm-up (pure JS, nothing to compile).
        filterGradShipped: gflops(time(() => shipped(tf.Conv2DBackpropFilter, { x: xc, dy: dyc }, filterAttrs), 1, false)),
      };
      tf.dispose([xc, wc, dyc]);
      await tf.setBackend('wasm');
    }
    tf.dispose([xv, wv, dyv]);
    const row = { shape: s.name, x: s.x, cout: s.cout, stride: s.stride, gflop: Number((flops / 1e9).toFixed(3)), wasm, cpu };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
  const out = {
    benchmark: 'conv2d 3x3 forward / input gradient / filter gradient, NHWC, GFLOP/s (median of runs, result read back)',
    wasm: wasmConfig,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg(), node: process.version },
    date: new Date().toISOString(),
    rows,
  };
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kernels.json'), JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`${join(dir, 'kernels.json')}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
