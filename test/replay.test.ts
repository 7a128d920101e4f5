import { tf } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import { planMemory } from '../src/core/memory';
import { proxiesForTask, type ProxyName } from '../src/core/names';
import { convolve, knownConvolution, LayerCache, type ConvGeometry } from '../src/core/nn/replay';
import { searchSpace } from '../src/core/spaces';
import { taskSpec } from '../src/core/tasks';
import type { ComputeRequest, RecomputePolicy } from '../src/core/types';

/**
 * The layer cache (nn/replay.ts) must change work, never values: the gradient, jacobian and forward
 * passes give exactly the same numbers with convolutions replayed as with them computed, and grasp
 * (whose dual forward then starts from the primal pass's convolution outputs) the same within float
 * rounding, with segments kept or recomputed, on every search space's layout.
 */
const PROXIES: ProxyName[] = ['epe_nas', 'fisher', 'grad_norm', 'grasp', 'jacov', 'nwot', 'plain', 'snip', 'zen'];
const TASKONOMY_PROXIES: ProxyName[] = ['fisher', 'grasp', 'jacov', 'nwot'];

const NB101_ARCH =
  '(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)';

const cases: Array<[string, Omit<ComputeRequest, 'proxies' | 'seed' | 'data'>, ProxyName[]]> = [
  ['NB201', { space: 'nasbench201', task: 'cifar10', arch: '(0, 2, 3, 2, 4, 1)', batchSize: 4 }, PROXIES],
  ['NB101 (max-pool vertices)', { space: 'nasbench101', task: 'cifar10', arch: NB101_ARCH, batchSize: 2 }, PROXIES],
  [
    'NB301 (separable and dilated convolutions: depthwise)',
    {
      space: 'nasbench301',
      task: 'cifar10',
      arch: '(((0, 6), (1, 4), (0, 0), (1, 5), (1, 4), (3, 2), (0, 6), (3, 2)), ((0, 1), (1, 4), (0, 1), (1, 4), (2, 6), (3, 4), (1, 5), (2, 1)))',
      batchSize: 2,
    },
    PROXIES,
  ],
  [
    'TNB-micro jigsaw (the encoder called 9 times: one cache entry per call)',
    { space: 'transbench101_micro', task: 'jigsaw', arch: '(2, 0, 2, 1, 1, 0)', batchSize: 1 },
    TASKONOMY_PROXIES,
  ],
];

describe('replayed convolutions give the values of computed ones', () => {
  test.each(cases)('%s', async (_label, req, proxies) => {
    const space = searchSpace(req.space);
    const task = taskSpec(req.task);
    expect(planMemory(space.network(space.parse(req.arch), task), task, req.batchSize, proxies).cacheLayers).toBe(true);
    for (const recompute of ['never', 'always'] as RecomputePolicy[]) {
      const run = (layerCache: 'auto' | 'never') => computeProxies({ ...req, proxies, seed: 3, data: { source: 'synthetic' }, recompute, layerCache });
      const computed = await run('never');
      const before = tf.memory().numTensors;
      // Count the convolutions replayed (a cache that is never read would pass the comparison trivially).
      const get = LayerCache.prototype.get;
      let hits = 0;
      const spy = jest.spyOn(LayerCache.prototype, 'get').mockImplementation(function (this: LayerCache, key: string) {
        const t = get.call(this, key);
        if (t) hits++;
        return t;
      });
      const replayed = await run('auto').finally(() => spy.mockRestore());
      expect(hits).toBeGreaterThan(0);
      expect(tf.memory().numTensors).toBe(before); // the cache is freed with the job
      for (const p of proxies) {
        const a = computed.results[p]!.score;
        const b = replayed.results[p]!.score;
        expect(Number.isFinite(a)).toBe(true);
        if (p === 'grasp') expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(a)));
        else expect(b).toBe(a);
      }
    }
  });
});

describe('knownConvolution', () => {
  const randn = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
  const geometries: Array<[string, ConvGeometry, number[], number[]]> = [
    [
      'conv2d stride 2',
      {
        depthwise: false,
        stride: 2,
        pad: [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ],
      },
      [2, 7, 7, 3],
      [3, 3, 3, 4],
    ],
    [
      'depthwise stride 1',
      {
        depthwise: true,
        stride: 1,
        pad: [
          [0, 0],
          [2, 2],
          [2, 2],
          [0, 0],
        ],
      },
      [2, 6, 6, 3],
      [5, 5, 3, 1],
    ],
  ];

  test.each(geometries)('%s: a tape node with the convolution gradients of every term', (_label, g, xShape, wShape) => {
    const [x1, x2, w1, w2, probe] = [randn(xShape, 1), randn(xShape, 2), randn(wShape, 3), randn(wShape, 4), randn([1], 5)];
    const f = (replay: boolean) => (a1: tf.Tensor, a2: tf.Tensor, b1: tf.Tensor, b2: tf.Tensor) => {
      const value = tf.add(convolve(x1, w1, g), convolve(x2, w2, g));
      const y = replay
        ? knownConvolution(
            value,
            [
              { x: a1, filter: b1 },
              { x: a2, filter: b2 },
            ],
            g,
          )
        : tf.add(convolve(a1, b1, g), convolve(a2, b2, g));
      return tf.sum(tf.mul(tf.square(y), probe));
    };
    const expected = tf.grads(f(false))([x1, x2, w1, w2]);
    const got = tf.grads(f(true))([x1, x2, w1, w2]);
    for (let i = 0; i < 4; i++) {
      const e = expected[i]!.dataSync();
      const r = got[i]!.dataSync();
      for (let j = 0; j < e.length; j++) expect(Math.abs(r[j]! - e[j]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(e[j]!)));
    }
    tf.dispose([x1, x2, w1, w2, probe, ...expected, ...got]);
  });

  test('a backward asks only for the gradients it needs (no filter gradient for an input Jacobian)', () => {
    const g: ConvGeometry = {
      depthwise: false,
      stride: 1,
      pad: [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
    };
    const x = randn([1, 4, 4, 2], 6);
    const w = randn([3, 3, 2, 2], 7);
    const value = convolve(x, w, g);
    const before = new Set<string>();
    const prof = tf.profile(() => tf.grad((a: tf.Tensor) => tf.sum(knownConvolution(value, [{ x: a, filter: w }], g)))(x));
    return prof.then((p) => {
      for (const k of p.kernels) before.add(k.name);
      expect(before.has('Conv2DBackpropFilter')).toBe(false);
      expect(before.has('Conv2D') || before.has('Conv2DBackpropInput')).toBe(true);
      tf.dispose([x, w, value]);
    });
  });

  test('a cache refuses a second value for one module call', () => {
    const cache = new LayerCache();
    const t = tf.ones([2]);
    cache.put('m#0', t);
    expect(() => cache.put('m#0', t)).toThrow(/m#0 is already kept/);
    cache.dispose();
    t.dispose();
    expect(cache.size).toBe(0);
  });
});

describe('the memory plan', () => {
  test('decides the cache from the network, task and batch alone, and counts it', () => {
    const space = searchSpace('nasbench201');
    const task = taskSpec('cifar10');
    const net = space.network(space.parse('(2, 2, 2, 2, 2, 2)'), task);
    const all = planMemory(net, task, 16, proxiesForTask('cifar10'));
    const grasp = planMemory(net, task, 16, ['grasp']);
    const nwot = planMemory(net, task, 16, ['nwot']);
    expect([all.cacheLayers, grasp.cacheLayers, nwot.cacheLayers]).toEqual([true, true, true]);
    const without = planMemory(net, task, 16, ['nwot'], 'auto', 'never');
    expect(without.cacheLayers).toBe(false);
    expect(nwot.peakBytes).toBeGreaterThan(without.peakBytes);
    // params/flops/l2_norm run no pass over the minibatch: no cache to hold.
    expect(planMemory(net, task, 16, ['params']).peakBytes).toBe(planMemory(net, task, 16, ['params'], 'auto', 'never').peakBytes);
  });

  test('leaves the cache out where the job with every proxy of its task would not fit with it', () => {
    const space = searchSpace('nasbench201');
    const task = taskSpec('scifar100');
    const net = space.network(space.parse('(2, 2, 2, 2, 2, 2)'), task);
    expect(planMemory(net, task, 64, ['nwot']).cacheLayers).toBe(false);
  });
});
