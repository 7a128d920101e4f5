import { definePass, NO_MEMORY } from './pass';

/** The network build: shape trace and initial weights (params, flops, l2_norm read only this). Timed by the caller. */
export const build = definePass({
  name: 'build',
  dependencies: [],
  memory: NO_MEMORY,
  recomputable: false,
  cached: false,
  forwardOnly: false,
});
