import { registerConv2dKernels } from './conv2d';

let registered = false;

/**
 * Register the kernels and gradients tfjs-core 4.22 and its backends lack (see each file).
 * Global registries, so once per process, before or after a backend initialises.
 */
export function registerCustomKernels(): void {
  if (registered) return;
  registered = true;
  registerConv2dKernels();
}
