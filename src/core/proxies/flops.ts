import type { ProxyDefinition } from './proxy';

/** Multiply-accumulates of one image in millions, by tensorwatch's per-module rules (last call counts). */
export const flops: ProxyDefinition = {
  name: 'flops',
  passes: ['build'],
  reads: 'shapes',
  raw: ({ trace }) => trace.flops / 1e6,
};
