import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './util';

/**
 * wasm's OneHot writes int32 bit patterns whatever the requested dtype, so a float32 one-hot
 * (our class targets) reads as 1.4e-45 instead of 1. Ours compares the indices with a range.
 */
const oneHotWasm: tf.KernelConfig = {
  kernelName: tf.OneHot,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs }) => {
    const { depth, onValue, offValue, dtype } = attrs as unknown as tf.OneHotAttrs;
    return tf.tidy(() => {
      const indices = asTensor(inputs.indices!);
      const hit = tf.cast(tf.equal(tf.expandDims(indices, -1), tf.range(0, depth, 1, 'int32')), 'float32');
      return tf.cast(tf.add(tf.mul(hit, onValue - offValue), offValue), dtype);
    });
  },
};

export const oneHotKernels: tf.KernelConfig[] = [oneHotWasm];
