import { PROXIES, type ProxyName } from '../names';
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

/** NASLib name → definition. A new proxy is a file exporting its definition plus one entry here. */
export const PROXY_DEFINITIONS: Record<ProxyName, ProxyDefinition> = {
  epe_nas, fisher, flops, grad_norm, grasp, jacov, l2_norm, nwot, params, plain, snip, synflow, zen,
};

/** Proxies that need no tensors, only the network's shapes (params, flops): a queue message may carry many architectures. */
export const SHAPE_ONLY_PROXIES: ReadonlySet<ProxyName> = new Set(PROXIES.filter((p) => PROXY_DEFINITIONS[p].reads === 'shapes'));

/** Whether a proxy's value depends on the minibatch (its data source and digest matter). */
export function proxyReadsData(name: ProxyName): boolean {
  return PROXY_DEFINITIONS[name].reads === 'data';
}

/** Whether a proxy needs the network's tensors (initial weights or its own draws). */
export function proxyNeedsTensors(name: ProxyName): boolean {
  return PROXY_DEFINITIONS[name].reads !== 'shapes';
}
