import type { tf } from './backend';
import type { TargetTensor } from './loss';
import type { ProxyName } from './names';
import type { NetworkDef } from './nn/ops';
import type { ShapeOps } from './nn/shape';
import { passClosure, Passes, type PassName, type ZenDraws } from './passes';
import { PROXY_DEFINITIONS, sanitize } from './proxies';
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
  /** Seconds spent building the network (trace + weights) and loading the minibatch. */
  buildSeconds: number;
  dataSeconds: number;
  /** Passes that recompute segments (memory.ts's plan). */
  recomputed?: ReadonlySet<PassName>;
  /** Passes share convolution outputs (memory.ts's plan). */
  cacheLayers?: boolean;
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
export function evaluatePassesNeeded(proxies: ProxyName[]): Set<PassName> {
  return passClosure(proxies.flatMap((p) => PROXY_DEFINITIONS[p].passes));
}

/**
 * Compute the requested proxies on one network, weights and minibatch, sharing every pass between
 * them (each proxy's value does not depend on which others are requested).
 */
export function evaluateProxies(inputs: EvaluationInputs, proxies: ProxyName[]): Partial<Record<ProxyName, ProxyValue>> {
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
    recomputed: inputs.recomputed,
    cacheLayers: inputs.cacheLayers,
  });
  passes.record('build', inputs.buildSeconds);
  passes.record('data', inputs.dataSeconds);
  const ctx = { passes, trace: inputs.trace, outputs: inputs.outputs };
  const results: Partial<Record<ProxyName, ProxyValue>> = {};
  try {
    for (const name of proxies) {
      const def = PROXY_DEFINITIONS[name];
      // Numerical failures come back as NaN/∞ (as NASLib records them) and become −1e8 here.
      const raw = def.raw(ctx);
      const score = def.score ? def.score(ctx) : sanitize(raw);
      let time = 0;
      for (const p of passClosure(def.passes)) time += passes.seconds.get(p) ?? 0;
      results[name] = { raw, score, time };
    }
  } finally {
    passes.dispose();
  }
  return results;
}
