import * as tf from '@tensorflow/tfjs-core';
import { conv2dGradients, conv2dKernels } from './conv2d';
import { depthwiseGradients, depthwiseKernels } from './depthwise';
import { elementwiseGradients, elementwiseKernels } from './elementwise';
import { matmulGradients } from './matmul';
import { oneHotKernels } from './onehot';
import { poolingGradients, poolingKernels } from './pooling';
import { reductionGradients, reductionKernels } from './reduction';
import { registerResizeKernels, resizeGradients } from './resize';
import { shapeGradients, shapeKernels } from './shape';
import { replaceKernel } from './util';

/**
 * Kernels we add or replace (always for a named backend; see each file for why), and the gradient
 * of every kernel our networks and losses run. tfjs-core's CommonJS build registers no gradients,
 * and where tfjs (e.g. with tfjs-node) registers its own, ours replace them so that every backend
 * differentiates the same way, including second order.
 */
export const customKernels: readonly tf.KernelConfig[] = [
  ...conv2dKernels,
  ...depthwiseKernels,
  ...poolingKernels,
  ...oneHotKernels,
  ...shapeKernels,
  ...reductionKernels,
  ...elementwiseKernels,
];
export const customGradients: readonly tf.GradConfig[] = [
  ...elementwiseGradients,
  ...reductionGradients,
  ...shapeGradients,
  ...matmulGradients,
  ...conv2dGradients,
  ...depthwiseGradients,
  ...poolingGradients,
  ...resizeGradients,
];

let registered = false;

/**
 * Register the kernels and gradients in tfjs' global registries: once per process, any time.
 * `again`: after loading a package that registers tfjs' stock gradients (tfjs-node loads the tfjs
 * union package), put ours back.
 */
export function registerCustomKernels(again = false): void {
  if (registered && !again) return;
  registered = true;
  for (const kernel of customKernels) replaceKernel(kernel);
  registerResizeKernels();
  for (const grad of customGradients) tf.registerGradient(grad);
}
