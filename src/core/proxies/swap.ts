import { reluPatterns } from '../passes/relu_patterns';
import type { ProxyDefinition } from './proxy';

/**
 * SWAP (ICLR 2024, pym1024/SWAP src/metrics/swap.py:28–34, 77–94), the plain score: the number of
 * distinct sample-wise activation patterns over the units of every 4-D ReLU, on 16 images, on the
 * job's initial weights. The regularised score needs μ, σ per space, which the authors' code does
 * not define (correlation.py:49 runs regular=False): not shipped.
 */
export const swap: ProxyDefinition = {
  name: 'swap',
  passes: ['relu_patterns'],
  reads: 'data',
  raw: ({ passes }) => passes.get(reluPatterns),
};
