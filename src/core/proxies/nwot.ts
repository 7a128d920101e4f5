import { logAbsDet } from '../linalg';
import { forward } from '../passes/forward';
import type { ProxyDefinition } from './proxy';

/** ln|det K|, K counting the ReLU units on which two samples agree (every ReLU module call). */
export const nwot: ProxyDefinition = {
  name: 'nwot',
  passes: ['forward'],
  reads: 'data',
  raw: ({ passes }) => logAbsDet(passes.get(forward), passes.batchSize),
};
