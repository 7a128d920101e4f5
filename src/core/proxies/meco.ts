import { channelCorrelation } from '../passes/channel_correlation';
import type { ProxyDefinition } from './proxy';

/**
 * MeCo (NeurIPS 2023, HamsterMimi/MeCo correlation/NAS_Bench_201.py:14–39): Σ over forward-hook
 * calls of the smallest eigenvalue of the channel correlation matrix of the first sample, on one
 * training image (the minibatch's first), every module of the authors' model hooked (containers
 * included: NetworkDef.moduleHookCalls); NaN and ±∞ terms dropped.
 */
export const meco: ProxyDefinition = {
  name: 'meco',
  passes: ['channel_correlation'],
  reads: 'data',
  raw: ({ passes }) => {
    let total = 0;
    for (const site of passes.get(channelCorrelation)) if (Number.isFinite(site.minEigenvalue)) total += site.hookCalls * site.minEigenvalue;
    return total;
  },
};
