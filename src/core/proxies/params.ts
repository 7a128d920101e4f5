import type { ProxyDefinition } from './proxy';

/** Parameters of the modules that run in one forward pass, in millions (tensorwatch's count). */
export const params: ProxyDefinition = {
  name: 'params',
  passes: ['build'],
  reads: 'shapes',
  raw: ({ trace }) => trace.paramCount / 1e6,
};
