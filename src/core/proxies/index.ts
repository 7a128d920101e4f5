import { BUILT_IN_PROXIES, type BuiltInProxyName } from '../names';
import { azNasComplexity, azNasExpressivity, azNasProgressivity, azNasTrainability } from './az_nas';
import { epe_nas } from './epe_nas';
import { fisher } from './fisher';
import { flops } from './flops';
import { grad_norm } from './grad_norm';
import { grasp } from './grasp';
import { jacov } from './jacov';
import { l2_norm } from './l2_norm';
import { meco } from './meco';
import { nwot } from './nwot';
import { params } from './params';
import { plain } from './plain';
import type { ProxyDefinition } from './proxy';
import { snip } from './snip';
import { swap } from './swap';
import { synflow } from './synflow';
import { zen } from './zen';
import { zico } from './zico';

export type { ProxyContext, ProxyDefinition } from './proxy';
export { sanitize } from './proxy';
export { averageRanks, azNasRankScores, type AzNasRow } from './az_nas';

/** NASLib name → definition. A new proxy is a file exporting its definition plus one entry here. */
export const PROXY_DEFINITIONS: Record<BuiltInProxyName, ProxyDefinition> = {
  epe_nas,
  fisher,
  flops,
  grad_norm,
  grasp,
  jacov,
  l2_norm,
  nwot,
  params,
  plain,
  snip,
  synflow,
  zen,
  meco,
  swap,
  zico,
  'az_nas.expressivity': azNasExpressivity,
  'az_nas.progressivity': azNasProgressivity,
  'az_nas.trainability': azNasTrainability,
  'az_nas.complexity': azNasComplexity,
};

/** Proxies that need no tensors, only the network's shapes (params, flops): a queue message may carry many architectures. */
export const SHAPE_ONLY_PROXIES: ReadonlySet<BuiltInProxyName> = new Set(BUILT_IN_PROXIES.filter((p) => PROXY_DEFINITIONS[p].reads === 'shapes'));

/** Whether a proxy's value depends on the minibatch (its data source and digest matter). */
export function proxyReadsData(name: BuiltInProxyName): boolean {
  return PROXY_DEFINITIONS[name].reads === 'data';
}

/** Whether a proxy needs the network's tensors (initial weights or its own draws). */
export function proxyNeedsTensors(name: BuiltInProxyName): boolean {
  return PROXY_DEFINITIONS[name].reads !== 'shapes';
}
