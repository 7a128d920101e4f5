import { initBackend, tf } from '../src/core/backend';
import { maxPoolRouting } from '../src/core/kernels/pooling';
import { replacedKernels } from '../src/core/kernels/util';
import { Rng } from '../src/core/rng';
import { onBackend, randn, relError } from './helpers/gradcheck';

/**
 * Custom kernels: each kernel we add or replace, on wasm and cpu, against the cpu backend's
 * shipped kernel (the reference), on small shapes over strides and paddings (named, numeric,
 * explicit).
 */

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: [number, number, number, number];
  k: [number, number];
  cin: number;
  cout: number;
  stride: number | [number, number];
  pad: Pad;
  dilation?: number;
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 7, 6, 3], k: [3, 3], cin: 3, cout: 4, stride: 1, pad: 'same' },
  { x: [2, 7, 6, 3], k: [3, 3], cin: 3, cout: 4, stride: 2, pad: 'same' },
  { x: [2, 8, 8, 3], k: [3, 3], cin: 3, cout: 5, stride: 2, pad: 'valid' },
  {
    x: [1, 7, 6, 2],
    k: [2, 3],
    cin: 2,
    cout: 3,
    stride: [2, 1],
    pad: [
      [0, 0],
      [1, 0],
      [2, 1],
      [0, 0],
    ],
  },
  { x: [2, 7, 6, 3], k: [3, 3], cin: 3, cout: 4, stride: 1, pad: 2 },
  { x: [2, 9, 9, 3], k: [5, 5], cin: 3, cout: 2, stride: 3, pad: 'same' },
  { x: [2, 6, 6, 4], k: [1, 1], cin: 4, cout: 4, stride: 1, pad: 0 },
  { x: [2, 7, 7, 3], k: [1, 1], cin: 3, cout: 2, stride: 2, pad: 0 }, // DARTS' FactorizedReduce
  { x: [1, 8, 7, 2], k: [2, 2], cin: 2, cout: 3, stride: 3, pad: 'valid' }, // taps < stride: empty phases
  {
    x: [2, 9, 8, 2],
    k: [3, 3],
    cin: 2,
    cout: 3,
    stride: 2,
    pad: [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  },
];

const label = (c: ConvCase) => `x=${c.x} k=${c.k} stride=${JSON.stringify(c.stride)} pad=${JSON.stringify(c.pad)}`;

/** Run a kernel on a backend with the given inputs (as plain arrays) and return its values. */
interface Values {
  values: Float32Array;
  shape: number[];
}
async function runOn(backend: string, kernel: string, inputs: Record<string, Values>, attrs: object): Promise<Values> {
  return onBackend(backend, () =>
    tf.tidy(() => {
      const tensors = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]));
      const out = tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
      return { values: Float32Array.from(out.dataSync()), shape: out.shape };
    }),
  );
}

const data = (t: tf.Tensor): Values => ({ values: Float32Array.from(t.dataSync()), shape: t.shape });

/** The reference: the cpu backend's shipped kernel, also where we replaced it. */
async function reference(kernel: string, inputs: Record<string, Values>, attrs: object): Promise<Values> {
  const shipped = replacedKernels.get(`cpu/${kernel}`);
  if (!shipped) return runOn('cpu', kernel, inputs, attrs);
  return onBackend('cpu', () =>
    tf.tidy(() => {
      const tensors = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]));
      const info = shipped.kernelFunc({ inputs: tensors, attrs: attrs as tf.NamedAttrMap, backend: tf.backend() }) as tf.TensorInfo;
      const out = tf.engine().makeTensorFromTensorInfo(info); // adopted as the engine adopts a kernel's output
      return { values: Float32Array.from(out.dataSync()), shape: out.shape };
    }),
  );
}

/** Our kernel on every backend against the reference. */
async function expectMatchesReference(kernel: string, inputs: Record<string, Values>, attrs: object): Promise<void> {
  const expected = await reference(kernel, inputs, attrs);
  for (const backend of ['wasm', 'cpu']) {
    const got = await runOn(backend, kernel, inputs, attrs);
    expect(got.shape).toEqual(expected.shape);
    expect(relError(got.values, expected.values)).toBeLessThan(1e-5);
  }
}

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

describe('Conv2DBackpropFilter / Conv2DBackpropInput equal the cpu backend’s shipped kernels', () => {
  test.each(CONV_CASES.map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const rng = new Rng(`conv ${label(c)}`);
    const [x, w, dy] = await onBackend('cpu', () => {
      const x = randn(rng, c.x);
      const w = randn(rng, [...c.k, c.cin, c.cout]);
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad);
      const dy = randn(rng, y.shape);
      return [data(x), data(w), data(dy)];
    });
    const filterAttrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: w.shape };
    const inputAttrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: x.shape };
    await expectMatchesReference(tf.Conv2DBackpropFilter, { x, dy }, filterAttrs);
    await expectMatchesReference(tf.Conv2DBackpropInput, { dy, filter: w }, inputAttrs);
  });
});

describe('depthwise backprop kernels equal the cpu backend’s shipped kernels', () => {
  const cases: ConvCase[] = [
    { x: [2, 7, 6, 3], k: [3, 3], cin: 3, cout: 1, stride: 1, pad: 'same' },
    { x: [2, 7, 6, 3], k: [3, 3], cin: 3, cout: 2, stride: 2, pad: 'same' },
    {
      x: [2, 8, 7, 2],
      k: [5, 5],
      cin: 2,
      cout: 1,
      stride: 1,
      pad: [
        [0, 0],
        [2, 2],
        [2, 2],
        [0, 0],
      ],
    },
    { x: [1, 8, 8, 2], k: [3, 3], cin: 2, cout: 3, stride: 2, pad: 'valid' },
    {
      x: [2, 9, 9, 3],
      k: [5, 5],
      cin: 3,
      cout: 1,
      stride: 2,
      pad: [
        [0, 0],
        [2, 2],
        [2, 2],
        [0, 0],
      ],
    }, // sep_conv_5x5 in a reduction cell
  ];
  test.each(cases.map((c) => [`${label(c)} multiplier=${c.cout}`, c] as const))('%s', async (_name, c) => {
    const rng = new Rng(`depthwise ${label(c)}`);
    const [x, w, dy] = await onBackend('cpu', () => {
      const x = randn(rng, c.x);
      const w = randn(rng, [...c.k, c.cin, c.cout]);
      const y = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad);
      return [data(x), data(w), data(randn(rng, y.shape))];
    });
    const common = { strides: c.stride, pad: c.pad, dilations: 1 };
    await expectMatchesReference(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { ...common, filterShape: w.shape });
    await expectMatchesReference(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter: w }, { ...common, inputShape: x.shape });
  });
});

describe('MaxPoolGrad', () => {
  // Ties on purpose: ReLU-like data with many zeros, and 'same' windows that hang over the border.
  const x: Values = { values: new Float32Array([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 2, 2, 0, 0]), shape: [1, 4, 4, 1] };
  const dy: Values = { values: new Float32Array(Array.from({ length: 16 }, (_, i) => i + 1)), shape: [1, 4, 4, 1] };
  const attrs = { filterSize: 3, strides: 1, pad: 'same' };

  test('routes each window to its first maximum, keeping all of dy, equal on cpu and wasm', async () => {
    const output = await runOn('cpu', tf.MaxPool, { x }, attrs);
    const inputs = { dy, input: x, output };
    const cpu = await runOn('cpu', tf.MaxPoolGrad, inputs, attrs);
    const wasm = await runOn('wasm', tf.MaxPoolGrad, inputs, attrs);
    // Hand-derived: windows of all zeros go to their first valid cell.
    expect(Array.from(cpu.values)).toEqual([6, 0, 30, 0, 0, 0, 12, 0, 0, 0, 16, 0, 46, 26, 0, 0]);
    expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
    expect(cpu.values.reduce((a, b) => a + b, 0)).toBe(136);
  });

  test('matches the cpu backend’s own kernel on random data with strides and padding', async () => {
    const rng = new Rng('maxpool random');
    const original = replacedKernels.get('cpu/MaxPoolGrad');
    expect(original).toBeDefined();
    for (const [shape, filterSize, strides, pad] of [
      [[2, 7, 6, 3], 3, 2, 'same'],
      [[2, 8, 8, 2], 2, 2, 'valid'],
      [[1, 5, 5, 2], 3, 1, 1],
    ] as const) {
      await onBackend('cpu', () =>
        tf.tidy(() => {
          const xt = randn(rng, [...shape]);
          const yt = tf.maxPool(xt as tf.Tensor4D, filterSize, strides, pad);
          const dyt = randn(rng, yt.shape);
          const a = { filterSize, strides, pad };
          const ours = tf.engine().runKernel(tf.MaxPoolGrad, { dy: dyt, input: xt, output: yt }, a as unknown as tf.NamedAttrMap) as tf.Tensor;
          const theirs = original!.kernelFunc({
            inputs: { dy: dyt, input: xt, output: yt },
            attrs: a as unknown as tf.NamedAttrMap,
            backend: tf.backend(),
          }) as tf.TensorInfo;
          // Adopted as the engine adopts a kernel's output: the tidy frees it.
          const theirValues = tf.engine().makeTensorFromTensorInfo(theirs).dataSync();
          // Same routing; sums of several dy per cell may differ in the last bit (summation order).
          expect(relError(ours.dataSync(), theirValues)).toBeLessThan(1e-6);
          expect(Array.from(ours.dataSync()).map((v) => v === 0)).toEqual(Array.from(theirValues).map((v) => v === 0));
        }),
      );
    }
  });

  test('maxPoolRouting skips padding and returns −1 only for windows without comparable values', () => {
    const info = tf.backend_util.computePool2DInfo([1, 2, 2, 1], 2, 1, 1, 'same');
    expect(Array.from(maxPoolRouting(new Float32Array([NaN, NaN, NaN, 5]), info))).toEqual([3, 3, 3, 3]);
    expect(Array.from(maxPoolRouting(new Float32Array([NaN, NaN, NaN, NaN]), info))).toEqual([-1, -1, -1, -1]);
  });
});

describe('Sum / Mean over N, H, W (wasm: average pooling)', () => {
  const cases: Array<[number[], number[], boolean]> = [
    [[3, 5, 4, 6], [1, 2], false],
    [[3, 5, 4, 6], [1, 2], true],
    [[3, 5, 4, 6], [0, 1, 2], false],
    [[2, 7, 3, 5], [0, 1, 2], true],
    [[1, 1, 1, 4], [0, 1, 2], false],
    [[3, 5, 4, 6], [0, 3], false], // not spatial: the shipped kernel
    [[5, 6], [0], false],
  ];
  test.each(cases)('x=%j axes=%j keepDims=%s', async (shape, axis, keepDims) => {
    const x = randn(new Rng(`reduce ${shape} ${axis}`), shape);
    for (const kernel of [tf.Sum, tf.Mean]) await expectMatchesReference(kernel, { x: data(x) }, { axis, keepDims });
    x.dispose();
  });
});

describe('Multiply by a per-channel vector (wasm: a 1×1 depthwise convolution)', () => {
  const cases: Array<[number[], number[]]> = [
    [[2, 3, 4, 5], [5]],
    [
      [1, 1, 1, 5],
      [2, 3, 4, 5],
    ], // the vector first
    [
      [2, 3, 4, 5],
      [1, 1, 1, 5],
    ],
    [
      [2, 3, 4, 5],
      [2, 1, 1, 5],
    ], // per sample and channel: the shipped kernel
    [[2, 3, 4, 1], [1]],
  ];
  test.each(cases)('%j ⊙ %j', async (aShape, bShape) => {
    const rng = new Rng(`mul ${aShape} ${bShape}`);
    const [a, b] = [randn(rng, aShape), randn(rng, bShape)];
    await expectMatchesReference(tf.Multiply, { a: data(a), b: data(b) }, {});
    tf.dispose([a, b]);
  });
});

describe('Reverse and Transpose (wasm: block copies; last-two-axes swaps tiled)', () => {
  const reverses: Array<[number[], number[]]> = [
    [
      [3, 3, 5, 4],
      [0, 1],
    ], // a filter flipped in space: 9 block copies
    [[3, 3, 5, 4], [1]],
    [[2, 3, 4, 5], [3]], // the last axis: element by element
    [
      [2, 3, 4, 5],
      [0, 2, 3],
    ],
    [[2, 1, 4, 5], [1]], // a unit axis: a plain copy
    [[7], [0]],
    [[4, 6], [-1]],
  ];
  test.each(reverses)('reverse x=%j dims=%j', async (shape, dims) => {
    const x = randn(new Rng(`reverse ${shape} ${dims}`), shape);
    await expectMatchesReference(tf.Reverse, { x: data(x) }, { dims });
    x.dispose();
  });
  const transposes: Array<[number[], number[]]> = [
    [
      [3, 3, 40, 33],
      [0, 1, 3, 2],
    ], // tiled, with partial tiles
    [
      [64, 32],
      [1, 0],
    ],
    [
      [2, 32, 48],
      [0, 2, 1],
    ],
    [
      [3, 3, 5, 4],
      [0, 1, 3, 2],
    ], // small: wasm's own
    [
      [3, 3, 40, 33],
      [1, 0, 2, 3],
    ],
    [
      [2, 40, 33, 35],
      [0, 3, 1, 2],
    ],
  ];
  test.each(transposes)('transpose x=%j perm=%j', async (shape, perm) => {
    const x = randn(new Rng(`transpose ${shape} ${perm}`), shape);
    await expectMatchesReference(tf.Transpose, { x: data(x) }, { perm });
    x.dispose();
  });
  test('int32 and bool tensors reverse and transpose on wasm as on cpu', async () => {
    const run = (backend: string) =>
      onBackend(backend, () =>
        tf.tidy(() => {
          const ints = tf.reshape(tf.range(0, 3 * 40 * 36, 1, 'int32'), [3, 40, 36]);
          const flags = tf.greater(tf.mod(tf.reshape(tf.range(0, 40 * 36), [40, 36]), 3), 1);
          return [tf.reverse(ints, [0, 2]), tf.transpose(ints, [0, 2, 1]), tf.reverse(flags, [0]), tf.transpose(flags)].map((t) => [
            t.dtype,
            t.shape,
            Array.from(t.dataSync()),
          ]);
        }),
      );
    expect(await run('wasm')).toEqual(await run('cpu'));
  });
});

describe('AvgPoolGrad (wasm at stride 1: average pooling of padded dy)', () => {
  const cases: Array<[number[], number, number, Pad]> = [
    [[2, 6, 5, 3], 3, 1, 'valid'],
    [[2, 6, 5, 3], 3, 1, 'same'],
    [[1, 7, 7, 2], 3, 1, 1],
    [[2, 6, 6, 3], 2, 2, 'valid'], // stride 2: the shipped kernel
  ];
  test.each(cases)('x=%j k=%d stride=%d pad=%j', async (shape, k, stride, pad) => {
    const rng = new Rng(`avgpoolgrad ${shape} ${pad}`);
    const x = randn(rng, shape);
    const y = tf.avgPool(x as tf.Tensor4D, k, stride, pad as 'valid');
    const dy = randn(rng, y.shape);
    await expectMatchesReference(tf.AvgPoolGrad, { dy: data(dy), input: data(x) }, { filterSize: k, strides: stride, pad });
    tf.dispose([x, y, dy]);
  });
});

describe('no leaks', () => {
  test.each(['cpu', 'wasm'])('custom kernels inside a tidy leave no tensors behind (%s)', async (backend) => {
    await onBackend(backend, () => {
      const rng = new Rng('leaks');
      const x = randn(rng, [2, 6, 6, 3]) as tf.Tensor4D;
      const w = randn(rng, [3, 3, 3, 4]) as tf.Tensor4D;
      const dw = randn(rng, [3, 3, 3, 2]) as tf.Tensor4D;
      const before = tf.memory();
      const dataIdsBefore = tf.backend().numDataIds();
      tf.tidy(() => {
        const dy = randn(rng, [2, 3, 3, 4]);
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
          strides: 2,
          pad: 'same',
          dataFormat: 'NHWC',
          filterShape: w.shape,
        } as unknown as tf.NamedAttrMap);
        tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, {
          strides: 2,
          pad: 'same',
          dataFormat: 'NHWC',
          inputShape: x.shape,
        } as unknown as tf.NamedAttrMap);
        const dyd = randn(rng, [2, 6, 6, 6]);
        tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy: dyd }, {
          strides: 1,
          pad: 'same',
          dilations: 1,
          filterShape: dw.shape,
        } as unknown as tf.NamedAttrMap);
        tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropInput, { dy: dyd, filter: dw }, {
          strides: 1,
          pad: 'same',
          dilations: 1,
          inputShape: x.shape,
        } as unknown as tf.NamedAttrMap);
        const y = tf.maxPool(x, 3, 2, 'same');
        tf.engine().runKernel(tf.MaxPoolGrad, { dy: y, input: x, output: y }, { filterSize: 3, strides: 2, pad: 'same' } as unknown as tf.NamedAttrMap);
        const z = tf.avgPool(x, 3, 1, 'same');
        tf.engine().runKernel(tf.AvgPoolGrad, { dy: z, input: x }, { filterSize: 3, strides: 1, pad: 'same' } as unknown as tf.NamedAttrMap);
        tf.sum(x, [0, 1, 2]);
        tf.mean(x, [1, 2], true);
        tf.mul(x, tf.ones([3]));
      });
      const after = tf.memory();
      expect(after.numTensors).toBe(before.numTensors);
      expect(after.numBytes).toBe(before.numBytes);
      // Kernel-internal tensors are released too: the backend holds no data beyond live tensors.
      expect(tf.backend().numDataIds()).toBe(dataIdsBefore);
      tf.dispose([x, w, dw]);
    });
  });

  test('repeated wasm filter gradients do not grow the wasm heap (XNNPACK operators are freed)', async () => {
    await onBackend('wasm', () => {
      const rng = new Rng('heap');
      const x = randn(rng, [8, 16, 16, 8]);
      const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
      const step = () =>
        tf.tidy(() => {
          const dy = randn(rng, [8, 16, 16, 8]);
          tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
            strides: 1,
            pad: 'same',
            dataFormat: 'NHWC',
            filterShape: [3, 3, 8, 8],
          } as unknown as tf.NamedAttrMap);
        });
      for (let i = 0; i < 5; i++) step();
      const settled = heap();
      for (let i = 0; i < 40; i++) step();
      expect(heap()).toBe(settled);
      x.dispose();
    });
  });
});
