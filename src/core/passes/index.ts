import { synflowPass } from '../proxies/synflow';
import { zenPass } from '../proxies/zen';
import { azNasPass } from './az_nas';
import { build } from './build';
import { channelCorrelation } from './channel_correlation';
import { data } from './data';
import { forward } from './forward';
import { gradient } from './gradient';
import { gradients } from './gradients';
import { hessian } from './hessian';
import { jacobian } from './jacobian';
import { minibatch1 } from './minibatch1';
import type { PassDefinition } from './pass';
import { reluPatterns } from './relu_patterns';

/**
 * Every pass, once (docs/proxies.md §6). A new pass is a file exporting its definition plus one
 * line here; proxies name it in `passes`, memory.ts plans it from its definition.
 */
export const PASS_DEFINITIONS = [
  build,
  data,
  gradient,
  hessian,
  forward,
  jacobian,
  zenPass,
  synflowPass,
  minibatch1,
  gradients,
  channelCorrelation,
  reluPatterns,
  azNasPass,
] as const;

export type PassName = (typeof PASS_DEFINITIONS)[number]['name'];

/** Name → definition. */
export const PASSES: Readonly<Record<PassName, PassDefinition>> = Object.fromEntries(PASS_DEFINITIONS.map((p) => [p.name, p])) as Record<
  PassName,
  PassDefinition
>;

/** Every pass the given passes need, dependencies included. */
export function passClosure(passes: readonly PassName[]): Set<PassName> {
  const out = new Set<PassName>();
  const visit = (p: PassName) => {
    if (out.has(p)) return;
    out.add(p);
    for (const d of PASSES[p].dependencies) visit(d.name as PassName);
  };
  passes.forEach(visit);
  return out;
}

export { definePass, NO_MEMORY, type PassDefinition, type PassMemory } from './pass';
export { Passes, type AzNasDraws, type MinibatchTensors, type PassInputs, type PassSharding, type ZenDraws } from './passes';
export { azNasPass, build, channelCorrelation, data, forward, gradient, gradients, hessian, jacobian, minibatch1, reluPatterns, synflowPass, zenPass };
export type { GradientResult } from './gradient';
