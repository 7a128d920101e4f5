import { initBackend, tf } from '../src/core/backend';
import { dilateKernel } from '../src/core/nn/dilation';
import { ShapeOps } from '../src/core/nn/shape';
import { SynflowOps } from '../src/core/nn/synflow';
import { TensorOps } from '../src/core/nn/tensor';
import { Rng } from '../src/core/rng';

/** Ops added for NB101/NB301/TNB, checked against direct loops (not against tfjs itself). */

function randomTensor(shape: number[], seed: string): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Rng(seed).fillNormal(new Float32Array(n)) as Float32Array, shape);
}

beforeAll(async () => {
  await initBackend('cpu');
});

describe('structural ops (TensorOps vs loops, ShapeOps shapes)', () => {
  test('convTranspose(k3, s2, p1, output_padding 1) is PyTorch’s scatter, output 2H×2W, no flops, params counted', () => {
    const [n, h, w, ci, co, k] = [2, 3, 4, 3, 2, 3];
    const x = randomTensor([n, h, w, ci], 'ct/x');
    const weight = randomTensor([k, k, co, ci], 'ct/w');
    const bias = randomTensor([co], 'ct/b');
    const params = new Map([
      ['up.weight', weight],
      ['up.bias', bias],
    ]);
    const spec = { name: 'up', inChannels: ci, outChannels: co, kernel: k, stride: 2, padding: 1, outputPadding: 1 };
    const y = tf.tidy(() => new TensorOps((nm) => params.get(nm)!).convTranspose(x, spec));
    expect(y.shape).toEqual([n, 2 * h, 2 * w, co]);
    // PyTorch: y[o] += x[i]·W[k] where o = i·s − p + k (PyTorch weight [in, out, k, k] = ours [k, k, out, in]).
    const xv = x.arraySync() as number[][][][];
    const wv = weight.arraySync() as number[][][][];
    const bv = bias.arraySync() as number[];
    const ref = Array.from({ length: n }, () => Array.from({ length: 2 * h }, () => Array.from({ length: 2 * w }, () => [...bv])));
    for (let b = 0; b < n; b++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let ki = 0; ki < k; ki++)
            for (let kj = 0; kj < k; kj++) {
              const oi = i * 2 - 1 + ki;
              const oj = j * 2 - 1 + kj;
              if (oi < 0 || oj < 0 || oi >= 2 * h || oj >= 2 * w) continue;
              for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) ref[b]![oi]![oj]![o]! += xv[b]![i]![j]![c]! * wv[ki]![kj]![o]![c]!;
            }
    const got = y.arraySync() as number[][][][];
    for (let b = 0; b < n; b++)
      for (let i = 0; i < 2 * h; i++)
        for (let j = 0; j < 2 * w; j++) for (let o = 0; o < co; o++) expect(got[b]![i]![j]![o]).toBeCloseTo(ref[b]![i]![j]![o]!, 4);
    const shapes = new ShapeOps();
    expect(shapes.convTranspose([1, h, w, ci], spec)).toEqual([1, 2 * h, 2 * w, co]);
    expect(shapes.flops).toBe(0);
    expect(shapes.paramCount).toBe(k * k * ci * co + co);
    expect(shapes.params.map((p) => [p.kind, p.prunable])).toEqual([
      ['conv_transpose', false],
      ['conv_transpose_bias', false],
    ]);
    tf.dispose([x, weight, bias, y]);
  });

  test('dilated depthwise conv via the zero-inserted kernel equals a direct loop, at stride 1 and 2, and has a gradient', () => {
    const [n, h, w, c, k, d, p] = [1, 9, 8, 2, 3, 2, 2];
    const x = randomTensor([n, h, w, c], 'dil/x');
    const weight = randomTensor([k, k, c, 1], 'dil/w');
    const params = new Map([['dw.weight', weight]]);
    for (const s of [1, 2]) {
      const spec = { name: 'dw', inChannels: c, outChannels: c, kernel: k, stride: s, padding: p, dilation: d, groups: c };
      const y = tf.tidy(() => new TensorOps((nm) => params.get(nm)!).conv(x, spec));
      const ho = Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;
      const wo = Math.floor((w + 2 * p - d * (k - 1) - 1) / s) + 1;
      expect(y.shape).toEqual([n, ho, wo, c]);
      expect(new ShapeOps().conv([n, h, w, c], spec)).toEqual([n, ho, wo, c]);
      const xv = x.arraySync() as number[][][][];
      const wv = weight.arraySync() as number[][][][];
      const got = y.arraySync() as number[][][][];
      for (let i = 0; i < ho; i++)
        for (let j = 0; j < wo; j++)
          for (let ch = 0; ch < c; ch++) {
            let sum = 0;
            for (let ki = 0; ki < k; ki++)
              for (let kj = 0; kj < k; kj++) {
                const ii = i * s - p + ki * d;
                const jj = j * s - p + kj * d;
                if (ii >= 0 && jj >= 0 && ii < h && jj < w) sum += xv[0]![ii]![jj]![ch]! * wv[ki]![kj]![ch]![0]!;
              }
            expect(got[0]![i]![j]![ch]).toBeCloseTo(sum, 4);
          }
      y.dispose();
    }
    const g = tf.grad((wt: tf.Tensor) => tf.sum(dilateKernel(wt, 2)))(weight);
    expect(Array.from(g.dataSync())).toEqual(new Array(k * k * c).fill(1));
    expect(dilateKernel(weight, 2).shape).toEqual([5, 5, c, 1]);
    tf.dispose([x, weight, g]);
  });

  test('concat, channel slice, crop, shift, zeroReduce, tile, leakyRelu, tanh, globalMean', () => {
    const x = tf.tensor4d(
      Array.from({ length: 2 * 3 * 3 * 2 }, (_, i) => i - 10),
      [2, 3, 3, 2],
    );
    const ops = new TensorOps(() => {
      throw new Error('no params');
    });
    const shapes = new ShapeOps();
    tf.tidy(() => {
      expect(ops.concat([x, ops.sliceChannels(x, 1)]).shape).toEqual([2, 3, 3, 3]);
      expect(
        shapes.concat([
          [2, 3, 3, 2],
          [2, 3, 3, 1],
        ]),
      ).toEqual([2, 3, 3, 3]);
      expect(Array.from(ops.sliceChannels(x, 1).dataSync())).toEqual(Array.from({ length: 18 }, (_, i) => 2 * i - 10));
      const cropped = ops.dropFirstRowColumn(x);
      expect(cropped.shape).toEqual([2, 2, 2, 2]);
      expect((cropped.arraySync() as number[][][][])[0]![0]![0]).toEqual([(1 * 3 + 1) * 2 - 10, (1 * 3 + 1) * 2 - 9]);
      expect(shapes.dropFirstRowColumn([2, 3, 3, 2])).toEqual([2, 2, 2, 2]);
      const shifted = ops.shiftUpLeft(x).arraySync() as number[][][][];
      expect(shifted[1]![0]![0]).toEqual([18 + 8 - 10, 18 + 9 - 10]); // x[1, 1, 1]
      expect(shifted[1]![2]![1]).toEqual([0, 0]); // appended zero row
      expect(shifted[1]![1]![2]).toEqual([0, 0]); // appended zero column
      const z = ops.zeroReduce(x, 2, 5);
      expect(z.shape).toEqual([2, 2, 2, 5]);
      expect(tf.max(tf.abs(z)).dataSync()[0]).toBe(0);
      expect(shapes.zeroReduce([2, 3, 3, 2], 2, 5)).toEqual([2, 2, 2, 5]);
      const tiles = tf.stack([x, tf.mul(x, 2)], 1);
      expect(Array.from(ops.tile(tiles, 1).dataSync())).toEqual(Array.from(tf.mul(x, 2).dataSync()));
      expect(shapes.tile([2, 9, 4, 4, 3], 8)).toEqual([2, 4, 4, 3]);
      expect(() => shapes.tile([2, 9, 4, 4, 3], 9)).toThrow();
      const seen: string[] = [];
      const hooked = new TensorOps(
        () => {
          throw new Error('no params');
        },
        { onReluInput: (name) => seen.push(name) },
      );
      expect(Array.from(hooked.leakyRelu(tf.tensor1d([-2, 3]), 'act', 0.2).dataSync())).toEqual([expect.closeTo(-0.4, 6), 3]);
      expect(seen).toEqual(['act']);
      expect(ops.tanh(tf.tensor1d([0.5])).dataSync()[0]).toBeCloseTo(Math.tanh(0.5), 6);
      expect(Array.from(ops.globalMean(tf.ones([2, 3, 3, 4])).shape)).toEqual([2, 4]);
    });
    // Flops: leaky relu counts its input, tanh, mean and the structural ops count 0.
    const counted = new ShapeOps();
    counted.leakyRelu([1, 4, 4, 2], 'a', 0.2);
    counted.tanh([1, 4, 4, 2], 't');
    counted.globalMean([1, 4, 4, 2]);
    counted.concat([
      [1, 4, 4, 2],
      [1, 4, 4, 2],
    ]);
    expect(counted.flops).toBe(32);
    x.dispose();
  });
});

describe('SynflowOps on the added ops', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  test('tanh applies to true values (t·e^s) and returns scale 0; it saturates like float64 beyond e^80', () => {
    const ops = new SynflowOps(() => {
      throw new Error('no params');
    }, new Map());
    tf.tidy(() => {
      const y = ops.tanh({ t: tf.tensor1d([0.5, 1, 0]), logScale: Math.log(2) });
      expect(y.logScale).toBe(0);
      const v = y.t.dataSync();
      expect(v[0]).toBeCloseTo(Math.tanh(1), 6);
      expect(v[1]).toBeCloseTo(Math.tanh(2), 6);
      expect(v[2]).toBe(0);
      expect(Array.from(ops.tanh({ t: tf.tensor1d([1e-3, 0]), logScale: 500 }).t.dataSync())).toEqual([1, 0]);
      // An exact zero tensor (scale −∞) stays zero.
      expect(Array.from(ops.tanh({ t: tf.tensor1d([0]), logScale: -Infinity }).t.dataSync())).toEqual([0]);
    });
  });
  test('concat aligns scales; zeroReduce is an exact zero (scale −∞)', () => {
    const ops = new SynflowOps(() => {
      throw new Error('no params');
    }, new Map());
    tf.tidy(() => {
      const a = { t: tf.ones([1, 1, 1, 1]), logScale: Math.log(4) };
      const b = { t: tf.ones([1, 1, 1, 1]), logScale: Math.log(2) };
      const c = ops.concat([a, b]);
      expect(Array.from(c.t.dataSync()).map((v) => v * Math.exp(c.logScale))).toEqual([expect.closeTo(4, 5), expect.closeTo(2, 5)]);
      const z = ops.zeroReduce({ t: tf.ones([1, 4, 4, 2]), logScale: 3 }, 2, 5);
      expect(z.logScale).toBe(-Infinity);
      expect(z.t.shape).toEqual([1, 2, 2, 5]);
      const sum = ops.add([z, { t: tf.ones([1, 2, 2, 5]), logScale: 1 }]);
      expect(sum.logScale).toBe(1);
      expect(Array.from(sum.t.dataSync()).every((v) => v === 1)).toBe(true);
    });
  });
});
