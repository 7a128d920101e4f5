import type { ProxyName } from '../names';
import { PASS_DEPENDENCIES, type PassName } from '../passes';
import { epe_nas } from './epe_nas';
import { fisher } from './fisher';
import { flops } from './flops';
import { grad_norm } from './grad_norm';
import { grasp } from './grasp';
import { jacov } from './jacov';
import { l2_norm } from './l2_norm';
import { nwot } from './nwot';
import { params } from './params';
import { plain } from './plain';
import type { ProxyDefinition } from './proxy';
import { snip } from './snip';
import { synflow } from './synflow';
import { zen } from './zen';

export type { ProxyContext, ProxyDefinition } from './proxy';
export { sanitize } from './proxy';

/** NASLib name → definition. */
export const PROXY_DEFINITIONS: Record<ProxyName, ProxyDefinition> = {
  epe_nas, fisher, flops, grad_norm, grasp, jacov, l2_norm, nwot, params, plain, snip, synflow, zen,
};

/** Whether a proxy's value depends on the minibatch: one of its passes needs the `data` pass. */
export function proxyReadsData(name: ProxyName): boolean {
  const needsData = (pass: PassName): boolean => pass === 'data' || PASS_DEPENDENCIES[pass].some(needsData);
  return PROXY_DEFINITIONS[name].passes.some(needsData);
}
