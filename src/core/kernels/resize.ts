import * as tf from '@tensorflow/tfjs-core';
import { replaceKernel, zeroGrad } from './util';

/**
 * Image resize family. The resize kernels are linear in the image; their Grad kernels are the
 * adjoints, and the adjoint of a Grad kernel (its gradient w.r.t. dy) is the resize itself.
 * tfjs cpu's ResizeBilinearGrad labels its output [batch, width, height, depth] (its data is
 * [batch, height, width, depth]): we wrap it to report the input's shape.
 */

type T = tf.Tensor;

function fixedCpuResizeBilinearGrad(): tf.KernelConfig | null {
  const original = tf.getKernel(tf.ResizeBilinearGrad, 'cpu');
  if (original == null) return null;
  return {
    ...original,
    kernelFunc: (args) => {
      const out = original.kernelFunc(args) as tf.TensorInfo;
      return { ...out, shape: args.inputs.images!.shape.slice() };
    },
  };
}

export function registerResizeKernels(): void {
  const fixed = fixedCpuResizeBilinearGrad();
  if (fixed) replaceKernel(fixed);
}

export const resizeGradients: tf.GradConfig[] = [
  {
    // Resize kernels are linear in the image; their Grad kernels are the adjoints.
    kernelName: tf.ResizeBilinear,
    inputsToSave: ['images'],
    gradFunc: (dy, saved, attrs) => ({
      images: () => tf.engine().runKernel(tf.ResizeBilinearGrad, { dy: dy as T, images: saved[0]! }, attrs) as T,
    }),
  },
  {
    kernelName: tf.ResizeNearestNeighbor,
    inputsToSave: ['images'],
    gradFunc: (dy, saved, attrs) => ({
      images: () => tf.engine().runKernel(tf.ResizeNearestNeighborGrad, { dy: dy as T, images: saved[0]! }, attrs) as T,
    }),
  },
  ...[
    { grad: tf.ResizeBilinearGrad, resize: tf.image.resizeBilinear },
    { grad: tf.ResizeNearestNeighborGrad, resize: tf.image.resizeNearestNeighbor },
  ].map(({ grad, resize }): tf.GradConfig => ({
    kernelName: grad,
    inputsToSave: ['dy', 'images'],
    gradFunc: (ddx, saved, attrs) => {
      const [dy, images] = saved as [T, T];
      const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeBilinearGradAttrs;
      return {
        dy: () => resize(ddx as tf.Tensor4D, [dy.shape[1]!, dy.shape[2]!], alignCorners, halfPixelCenters),
        images: () => zeroGrad(images),
      };
    },
  })),
];
