import type { tf } from './backend';
import type { TargetTensor } from './loss';
import type { BuiltInProxyName } from './names';
import type { NetworkDef } from './nn/ops';
import type { ShapeOps } from './nn/shape';
import { passClosure, Passes, type AzNasDraws, type MinibatchTensors, type PassName, type PassSharding, type ZenDraws } from './passes';
import { PROXY_DEFINITIONS, sanitize, type ProxyContext, type ProxyDefinition } from './proxies';
import type { LossKind } from './tasks';

export interface EvaluationInputs {
  net: NetworkDef;
  loss: LossKind;
  outputs: number;
  /** Batch-1 shape trace: parameter list, params/flops. */
  trace: ShapeOps;
  /** Every parameter by name (initial or injected). Owned by the caller. */
  weights: Map<string, tf.Tensor>;
  x: tf.Tensor;
  target: TargetTensor;
  zenDraws: () => ZenDraws;
  /** az_nas's weights, input and signs; called only when it runs. */
  azNasDraws?: () => AzNasDraws;
  /** The job's second minibatch: needed when a requested pass depends on `minibatch1` (zico, swap). */
  secondMinibatch?: MinibatchTensors;
  /** Seconds spent building the network (trace + weights) and loading the minibatch (and the second one). */
  buildSeconds: number;
  dataSeconds: number;
  secondMinibatchSeconds?: number;
  /** Passes that recompute segments (memory.ts's plan). */
  recomputed?: ReadonlySet<PassName>;
  /** Passes share convolution outputs (memory.ts's plan). */
  cacheLayers?: boolean;
  /** Where the shardable passes run when the minibatch is split between wasm heaps (memory.ts's plan). */
  sharding?: PassSharding;
}

export interface ProxyValue {
  /** NASLib's raw measure value (synflow: may be Infinity when beyond float64). */
  raw: number;
  /** Post-processed as NASLib's ZeroCost.query does. */
  score: number;
  /** Seconds it would cost alone: build + data (if it reads data) + its passes. */
  time: number;
}

/** Every pass the given proxies need, dependencies included. */
export function evaluatePassesNeeded(proxies: BuiltInProxyName[], modules: readonly ProxyDefinition[] = []): Set<PassName> {
  return passClosure([...proxies.flatMap((p) => PROXY_DEFINITIONS[p].passes), ...modules.flatMap((m) => m.passes)]);
}

/** A user module's outcome: its value, or the error it threw (it fails alone). */
export type ModuleValue = ProxyValue | { error: string };

/**
 * Compute the requested proxies on one network, weights and minibatch, sharing every pass between
 * them (each proxy's value does not depend on which others are requested).
 */
export function evaluateProxies(
  inputs: EvaluationInputs,
  proxies: BuiltInProxyName[],
  modules: readonly ProxyDefinition[] = [],
  moduleValues: Record<string, ModuleValue> = {},
): Partial<Record<BuiltInProxyName, ProxyValue>> {
  const passes = new Passes({
    net: inputs.net,
    loss: inputs.loss,
    weights: inputs.weights,
    params: inputs.trace.params,
    unusedParams: inputs.net.unusedParams,
    batchNorms: inputs.trace.batchNorms,
    x: inputs.x,
    target: inputs.target,
    zenDraws: inputs.zenDraws,
    azNasDraws: inputs.azNasDraws,
    secondMinibatch: inputs.secondMinibatch,
    recomputed: inputs.recomputed,
    cacheLayers: inputs.cacheLayers,
    sharding: inputs.sharding,
  });
  passes.record('build', inputs.buildSeconds);
  passes.record('data', inputs.dataSeconds);
  passes.record('minibatch1', inputs.secondMinibatchSeconds ?? 0);
  const ctx = { passes, trace: inputs.trace, outputs: inputs.outputs };
  const results: Partial<Record<BuiltInProxyName, ProxyValue>> = {};
  try {
    for (const name of proxies) results[name] = valueOf(PROXY_DEFINITIONS[name], ctx);
    // A module is someone else's code: what it throws is its own failure, not the job's.
    for (const def of modules) {
      try {
        moduleValues[def.name] = valueOf(def, ctx);
      } catch (err) {
        moduleValues[def.name] = { error: err instanceof Error ? err.message : String(err) };
      }
    }
  } finally {
    passes.dispose();
  }
  return results;
}

function valueOf(def: ProxyDefinition, ctx: ProxyContext): ProxyValue {
  // Numerical failures come back as NaN/∞ (as NASLib records them) and become −1e8 here.
  const raw = def.raw(ctx);
  const score = def.score ? def.score(ctx) : sanitize(raw);
  let time = 0;
  for (const p of passClosure(def.passes)) time += ctx.passes.seconds.get(p) ?? 0;
  return { raw, score, time };
}
