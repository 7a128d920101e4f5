/**
 * `npm run bench:profile`: where one job's time goes, by kernel. Runs one job (default: the
 * TNB-micro class_scene cell of bench:heavy with NASLib's ten proxies at batch 32) under tf.profile
 * and sums each kernel's wall time, grouped by kernel name and by class (convolution forward,
 * convolution gradients, elementwise, reduction, layout/copy, other). Writes bench/results/profile.json.
 *   BENCH_SPACE, BENCH_TASK, BENCH_ARCH, BENCH_PROXIES (comma list), BENCH_BATCH   the job
 *   BENCH_OUT   where to write it (default bench/results/profile.json)
 * Kernels built from other kernels (hybrid's convolution gradients run forward convolutions) count
 * both, so the kernel total can exceed the wall time: read the shares, not the sum.
 * Run it on an otherwise idle machine.
 */
import { mkdirSync, writeFileSync } from 'fs';
import { cpus, loadavg } from 'os';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import type { BuiltInProxyName, SpaceName, TaskName } from '../src/core/names';

const CLASSES: [string, RegExp][] = [
  ['convolution forward', /^(Conv2D|DepthwiseConv2dNative|FusedConv2D|FusedDepthwiseConv2D)$/],
  ['convolution gradients', /^(Conv2DBackprop\w+|DepthwiseConv2dNativeBackprop\w+)$/],
  ['pooling', /Pool/],
  ['reduction', /^(Sum|Mean|Max|Min|Prod|ArgMax|ArgMin|All|Any)$/],
  [
    'layout and copies',
    /^(Transpose|Reshape|Slice|StridedSlice|Concat|Pack|Unpack|SplitV|PadV2|Tile|Reverse|GatherV2|Identity|Cast|ExpandDims|Squeeze|MirrorPad)$/,
  ],
  ['matmul', /MatMul/],
];

function classOf(kernel: string): string {
  return CLASSES.find(([, re]) => re.test(kernel))?.[0] ?? 'elementwise and other';
}

async function main(): Promise<void> {
  const job = {
    space: (process.env.BENCH_SPACE ?? 'transbench101_micro') as SpaceName,
    task: (process.env.BENCH_TASK ?? 'class_scene') as TaskName,
    arch: process.env.BENCH_ARCH ?? '(2, 1, 2, 1, 0, 1)',
    proxies: (process.env.BENCH_PROXIES ?? 'fisher,flops,grad_norm,grasp,jacov,l2_norm,nwot,params,plain,snip').split(',') as BuiltInProxyName[],
    seed: 0,
    batchSize: Number(process.env.BENCH_BATCH ?? 32),
    data: { source: 'synthetic' as const },
  };
  await initBackend();
  const start = process.hrtime.bigint();
  let result: Awaited<ReturnType<typeof computeProxies>> | undefined;
  const info = await tf.profile(async () => {
    result = await computeProxies(job);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    byKernel.set(k.name, e);
  }
  const kernelMs = [...byKernel.values()].reduce((a, e) => a + e.ms, 0);
  const byClass = new Map<string, number>();
  for (const [name, e] of byKernel) byClass.set(classOf(name), (byClass.get(classOf(name)) ?? 0) + e.ms);
  const share = (ms: number) => Number((ms / kernelMs).toFixed(3));
  const out = {
    benchmark: 'kernel time of one job under tf.profile (kernel wall time summed per kernel and class)',
    job,
    backend: result?.backend,
    // Kernels are shard 0's (the calling thread's engine) when the job splits its minibatch.
    shards: result?.shards ?? 1,
    seconds,
    kernelSecondsIncludingNested: kernelMs / 1e3,
    classes: Object.fromEntries([...byClass].sort((a, b) => b[1] - a[1]).map(([c, ms]) => [c, { seconds: ms / 1e3, share: share(ms) }])),
    kernels: [...byKernel]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, 30)
      .map(([name, e]) => ({ name, seconds: e.ms / 1e3, calls: e.calls, share: share(e.ms) })),
    proxyTimes: result && Object.fromEntries(Object.entries(result.results).map(([p, r]) => [p, r.time])),
    machine: { cpus: cpus().length, loadavgAtEnd: loadavg(), node: process.version },
    date: new Date().toISOString(),
  };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(process.env.BENCH_OUT ?? join(__dirname, 'results', 'profile.json'), JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`${seconds.toFixed(1)} s, kernels ${out.kernelSecondsIncludingNested.toFixed(1)} s\n${JSON.stringify(out.classes, null, 1)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
