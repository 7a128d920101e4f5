import type { NetworkDef, Ops } from '../../src/core/nn/ops';

/**
 * A tiny network with every op kind that has a second-derivative path: convs (strided, depthwise,
 * dilated), affine and non-affine batch norm, ReLU, average and max pooling, linear, a three-way add.
 * Tests of the differentiation machinery (grasp's tangent H·g, nn/backprop.ts) run on it.
 */
export const tinyNetwork: NetworkDef = {
  init: 'torch',
  inputShape: [8, 8, 3],
  outputs: 5,
  forward<T>(ops: Ops<T>, x: T): T {
    let y = ops.conv(x, { name: 'stem', inChannels: 3, outChannels: 4, kernel: 3, padding: 1 });
    y = ops.batchNorm(y, { name: 'bn0', channels: 4, affine: true });
    const a = ops.relu(y, 'r1');
    const b = ops.conv(a, { name: 'dw', inChannels: 4, outChannels: 4, kernel: 3, padding: 2, dilation: 2, groups: 4 });
    const c = ops.batchNorm(b, { name: 'bn1', channels: 4, affine: false });
    const d = ops.maxPool(y, { name: 'mp', kernel: 3, stride: 1, padding: 1 });
    y = ops.add([c, d, ops.avgPool(a, { name: 'ap', kernel: 3, stride: 1, padding: 1 })]);
    y = ops.relu(y, 'r2');
    y = ops.conv(y, { name: 'down', inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: 1 });
    y = ops.batchNorm(y, { name: 'bn2', channels: 6, affine: true });
    y = ops.maxPool(ops.relu(y, 'r3'), { name: 'mp2', kernel: 2, stride: 2, padding: 0 });
    return ops.linear(ops.globalAvgPool(ops.feature(y), 'gap'), { name: 'fc', inFeatures: 6, outFeatures: 5 });
  },
};
