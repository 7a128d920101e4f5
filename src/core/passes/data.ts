import { definePass, NO_MEMORY } from './pass';

/** Loading the minibatch and its target (the caller times it; the passes that read data depend on it). */
export const data = definePass({
  name: 'data',
  dependencies: [],
  memory: NO_MEMORY,
  recomputable: false,
  cached: false,
  forwardOnly: false,
});
