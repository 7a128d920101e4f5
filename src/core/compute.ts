import { InputError } from '../errors';
import { ResourceError } from '../errors';
import { activeBackend, availableBackends, initBackend, tf, TFJS_NAME, wasmShardLimits, type BackendName } from './backend';
import { loadMinibatch } from './data';
import { keepFilterFlips } from './kernels/filter-flips';
import { evaluatePassesNeeded, evaluateProxies, type ModuleValue } from './evaluate';
import { targetTensor } from './loss';
import { SPACE_TASKS, type BuiltInProxyName } from './names';
import { initialValues } from './nn/init';
import type { NetworkDef } from './nn/ops';
import type { ParamSpec } from './nn/params';
import { traceShapes } from './nn/shape';
import type { AzNasDraws, MinibatchTensors, PassSharding, ZenDraws } from './passes';
import { PROXY_DEFINITIONS, proxyNeedsTensors, proxyReadsData } from './proxies';
import { ShardedJob } from './shards/sharded-job';
import { drawAzNas } from './proxies/az_nas';
import { drawZen } from './proxies/zen';
import { Rng } from './rng';
import { searchSpace } from './spaces';
import { taskSpec } from './tasks';
import type { ComputeRequest, ComputeResult, ProxyResult } from './types';

import { planMemory, RECOMPUTE_ABOVE_BYTES, type MemoryPlan } from './memory';

export { estimateJobMemory, planJobMemory, type MemoryEstimateRequest } from './memory';

/** Validate a request and build its network; InputError names the bad field. */
export function resolveRequest(req: ComputeRequest): { net: NetworkDef; canonicalArch: string } {
  const space = searchSpace(req.space);
  if (!SPACE_TASKS[req.space].includes(req.task)) {
    throw new InputError('task', req.task, `valid for ${req.space}: ${SPACE_TASKS[req.space].join(', ')}`);
  }
  if (!Number.isSafeInteger(req.batchSize) || req.batchSize < 1) throw new InputError('batch size', req.batchSize, 'an integer ≥ 1');
  if (!Number.isSafeInteger(req.seed)) throw new InputError('seed', req.seed, 'an integer');
  if (req.shards !== undefined && !(Number.isSafeInteger(req.shards) && req.shards >= 1)) throw new InputError('shards', req.shards, 'an integer ≥ 1');
  if (req.memoryBudget !== undefined && !(req.memoryBudget > 0)) throw new InputError('memory budget', req.memoryBudget, 'a positive number of bytes');
  if (req.proxies.length === 0 && !req.modules?.length) throw new InputError('proxies', req.proxies, 'at least one proxy');
  for (const p of req.proxies) if (!(p in PROXY_DEFINITIONS)) throw new InputError('proxy', p, `valid: ${Object.keys(PROXY_DEFINITIONS).join(', ')}`);
  const arch = space.parse(req.arch, 'arch');
  return { net: space.network(arch, taskSpec(req.task)), canonicalArch: space.format(arch) };
}

/** Initial weights as tensors, from the one seeded RNG (stream `init/<name>` per parameter). */
export function initialWeights(params: ParamSpec[], rule: NetworkDef['init'], rng: Rng): Map<string, tf.Tensor> {
  return new Map(params.map((p) => [p.name, tf.tensor(initialValues(p, rule, rng), p.shape)]));
}

/**
 * Bytes of tensors one job may hold on a backend. wasm addresses 4 GiB at most (32-bit memory: the
 * recomputation threshold, which leaves headroom);
 * tfjs-node and cpu allocate from the process heap, bounded by the machine.
 */
const BACKEND_CAPACITY: Record<BackendName, number> = { wasm: RECOMPUTE_ABOVE_BYTES, node: Infinity, hybrid: Infinity, cpu: Infinity };

/** Bytes of tensors one job may hold on `backend`. */
export function backendCapacity(backend: BackendName): number {
  return BACKEND_CAPACITY[backend];
}

let backendsHere: Promise<BackendName[]> | null = null;

/**
 * The backend a job runs on: the process's backend when the job's estimated peak fits it, else the
 * next available one that can hold it (grasp on a Taskonomy network at batch 32 moves from wasm to
 * tfjs-node, else hybrid, else cpu). Returns the backend to restore afterwards.
 */
async function backendForJob(peakBytes: number): Promise<{ used: BackendName; restore: BackendName | null }> {
  const current = activeBackend();
  if (peakBytes <= BACKEND_CAPACITY[current]) return { used: current, restore: null };
  backendsHere ??= availableBackends();
  const fallback = (await backendsHere).find((b) => peakBytes <= BACKEND_CAPACITY[b]);
  if (!fallback) {
    throw new ResourceError(`the job needs about ${(peakBytes / 2 ** 30).toFixed(1)} GiB of tensors, more than any backend here can hold`, peakBytes);
  }
  await tf.setBackend(TFJS_NAME[fallback]);
  return { used: fallback, restore: current };
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * The stream of the job's second minibatch (zico, swap): the authors take the first two batches of
 * one shuffled loader; here a second draw of the job's batch size from the job's data, independent
 * of the first (so the job's own minibatch is the same whichever proxies are requested).
 */
export const SECOND_MINIBATCH_STREAM = 'data/minibatch1';

/**
 * The core's entry point: build the network of (space, task, arch) once, draw its weights and one
 * minibatch from the seed, and compute every requested proxy, sharing passes between them.
 */
export async function computeProxies(req: ComputeRequest): Promise<ComputeResult> {
  const { net, canonicalArch } = resolveRequest(req);
  await initBackend();
  // A job beyond one wasm heap splits its minibatch between several where it can (src/core/shards).
  const onWasm = activeBackend() === 'wasm';
  if (req.shards !== undefined && req.shards > 1 && !onWasm)
    throw new InputError('shards', req.shards, `1 on the ${activeBackend()} backend (shards are wasm heaps)`);
  const limits = onWasm && req.shards !== 1 ? wasmShardLimits() : { max: 1, min: 1 };
  const shards = { ...limits, exactly: req.shards, budgetBytes: req.memoryBudget };
  const plan = planMemory(net, taskSpec(req.task), req.batchSize, req.proxies, req.recompute, req.layerCache, shards);
  const { used: backend, restore } = plan.shards > 1 ? { used: 'wasm' as const, restore: null } : await backendForJob(plan.peakBytes);
  try {
    return await computeOn(req, net, canonicalArch, backend, plan);
  } finally {
    if (restore) await tf.setBackend(TFJS_NAME[restore]);
  }
}

async function computeOn(req: ComputeRequest, net: NetworkDef, canonicalArch: string, backend: BackendName, plan: MemoryPlan): Promise<ComputeResult> {
  const task = taskSpec(req.task);
  const rng = new Rng(req.seed);
  const modules = req.modules ?? [];
  const needsTensors = req.proxies.some(proxyNeedsTensors) || modules.some((m) => m.reads !== 'shapes');

  let t = process.hrtime.bigint();
  const trace = traceShapes(net, 1);
  const weights = needsTensors ? initialWeights([...trace.params, ...(net.unusedParams ?? [])], net.init, rng) : new Map<string, tf.Tensor>();
  const buildSeconds = seconds(t);

  // Only the proxies that read the minibatch load it (not params, flops, l2_norm, synflow, zen).
  t = process.hrtime.bigint();
  const batch =
    req.proxies.some(proxyReadsData) || modules.some((m) => m.reads === 'data')
      ? await loadMinibatch(req.data, { task: req.task, batchSize: req.batchSize, rng: rng.fork('data') })
      : null;
  const dataLoadSeconds = seconds(t);
  t = process.hrtime.bigint();
  const second = evaluatePassesNeeded(req.proxies, modules).has('minibatch1')
    ? await loadMinibatch(req.data, { task: req.task, batchSize: req.batchSize, rng: rng.fork(SECOND_MINIBATCH_STREAM), which: 'second' })
    : null;
  const secondLoadSeconds = seconds(t);

  const owned: tf.Tensor[] = [...weights.values()];
  const releaseFlips = keepFilterFlips(weights.values());
  let sharded: ShardedJob | null = null;
  let zenDraws: ZenDraws | null = null;
  let azNasDraws: AzNasDraws | null = null;
  try {
    t = process.hrtime.bigint();
    const x = batch ? tf.tensor(batch.inputs, batch.inputShape) : tf.zeros([1, ...net.inputShape]);
    const target = batch ? targetTensor(batch.target, task.outputs) : { kind: 'dense' as const, values: tf.zeros([1, task.outputs]) };
    owned.push(x, target.values);
    const dataSeconds = dataLoadSeconds + seconds(t);
    t = process.hrtime.bigint();
    let secondMinibatch: MinibatchTensors | undefined;
    if (second) {
      secondMinibatch = { x: tf.tensor(second.inputs, second.inputShape), target: targetTensor(second.target, task.outputs) };
      owned.push(secondMinibatch.x, secondMinibatch.target.values);
    }
    const secondMinibatchSeconds = secondLoadSeconds + seconds(t);
    // Drawn once, by the first pass that reads them (zen on this heap, or on the shards).
    const drawZenOnce = () => (zenDraws ??= drawZen(trace, [req.batchSize, ...net.inputShape], rng));
    let sharding: PassSharding | undefined;
    if (plan.shards > 1) {
      const network = { space: req.space, task: req.task, arch: canonicalArch };
      sharding = sharded = new ShardedJob({ network, net, weights, batchSize: req.batchSize, x, target, plan, shards: plan.shards, zenDraws: drawZenOnce });
    }
    const moduleValues: Record<string, ModuleValue> = {};
    const values = evaluateProxies(
      {
        net,
        loss: task.loss,
        outputs: task.outputs,
        trace,
        weights,
        x,
        target,
        // zen draws its inputs in the minibatch's shape: [B, …input] (jigsaw: [B, 9, 64, 64, 3]).
        zenDraws: drawZenOnce,
        // az_nas's Gaussian input has the minibatch's shape too.
        azNasDraws: () => (azNasDraws = drawAzNas(trace, [req.batchSize, ...net.inputShape], rng)),
        secondMinibatch,
        buildSeconds,
        dataSeconds,
        secondMinibatchSeconds,
        recomputed: plan.recomputed,
        // With shards, the cache is theirs: the passes left to this heap run on the whole minibatch without one.
        cacheLayers: plan.shards === 1 && plan.cacheLayers,
        sharding,
      },
      req.proxies,
      modules,
      moduleValues,
    );
    const results: Partial<Record<BuiltInProxyName, ProxyResult>> = {};
    for (const p of req.proxies) results[p] = { score: values[p]!.score, time: values[p]!.time };
    return {
      space: req.space,
      task: req.task,
      arch: canonicalArch,
      seed: req.seed,
      batchSize: req.batchSize,
      backend,
      ...(plan.shards > 1 ? { shards: plan.shards } : {}),
      data: batch ? { source: batch.source, sha256: batch.sha256 } : { source: 'none', sha256: '' },
      results,
      ...(req.modules
        ? { moduleResults: Object.fromEntries(Object.entries(moduleValues).map(([n, v]) => [n, 'error' in v ? v : { score: v.score, time: v.time }])) }
        : {}),
    };
  } finally {
    sharded?.dispose();
    releaseFlips();
    for (const tensor of owned) tensor.dispose();
    if (zenDraws) {
      const z = zenDraws as ZenDraws;
      for (const w of z.weights.values()) w.dispose();
      z.input.dispose();
      z.noise.dispose();
    }
    if (azNasDraws) {
      const a = azNasDraws as AzNasDraws;
      for (const w of a.weights.values()) w.dispose();
      a.input.dispose();
    }
  }
}
