import type { ProxyDefinition } from '../../src/plugin-api';

/** Weights of the network: Σ over the parameters that run in a forward pass of their element counts (params × 1e6). */
const weightCount: ProxyDefinition = {
  name: 'weight_count',
  passes: ['build'],
  reads: 'shapes',
  raw: ({ trace }) => trace.params.reduce((sum, p) => sum + p.shape.reduce((n, d) => n * d, 1), 0),
};

export default weightCount;
