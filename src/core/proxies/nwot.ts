import { logAbsDet } from '../linalg';
import type { ProxyDefinition } from './proxy';

/** ln|det K|, K counting the ReLU units on which two samples agree (every ReLU module call). */
export const nwot: ProxyDefinition = {
  name: 'nwot',
  passes: ['forward'],
  raw: ({ passes }) => logAbsDet(passes.reluAgreement(), passes.batchSize),
};
