import { definePass, NO_MEMORY } from './pass';

/**
 * Loading the job's second minibatch (zico's gradients, swap's 16 images): drawn by the caller, from
 * the job's data stream, only when a requested pass depends on this stage; the caller times it.
 */
export const minibatch1 = definePass({
  name: 'minibatch1',
  dependencies: [],
  memory: NO_MEMORY,
  recomputable: false,
  cached: false,
  forwardOnly: false,
});
