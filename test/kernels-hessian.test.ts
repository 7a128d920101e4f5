import { initBackend, tf } from '../src/core/backend';
import { Rng } from '../src/core/rng';
import { onBackend, randn } from './helpers/gradcheck';

/**
 * Second order, as grasp uses it: the Hessian-vector product Hv of a tiny conv net's loss by
 * nested tf.grads, against the central difference of the gradient along v,
 * (∇L(θ + hv) − ∇L(θ − hv)) / 2h, Richardson-extrapolated over h and h/2. On cpu and wasm.
 *
 * ReLU's kink would spoil the difference quotient wherever θ ± hv moves a unit across zero, so the
 * reference differentiates the same net with each ReLU's mask frozen at θ (x·1[x₀ > 0]): equal to
 * the real net on a neighbourhood of θ that excludes those crossings, and smooth. The product under
 * test is always computed on the real net (tf.relu).
 */

type T = tf.Tensor;

/** Train-mode batch norm by hand (batch statistics, biased variance), as NASLib's networks in train mode. */
function batchNorm(x: T, gamma: T, beta: T): T {
  const mean = tf.mean(x, [0, 1, 2]);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), [0, 1, 2]);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
}

/** Softmax cross-entropy, mean over the batch: logsumexp(z) − z_label. */
function crossEntropy(logits: T, oneHot: T): tf.Scalar {
  return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, oneHot), 1)));
}

/** A ReLU site: `site` numbers the call within one forward pass. */
type Relu = (h: T, site: number) => T;

interface Net {
  name: string;
  params: (rng: Rng) => T[];
  loss: (x: T, labels: T, ps: T[], relu: Relu) => tf.Scalar;
}

const NETS: Net[] = [
  {
    // The brief's net: conv → BN → relu → avgpool → conv → global mean → matmul → softmax CE.
    name: 'conv-bn-relu-avgpool-conv-mean-linear',
    params: (rng) => [
      randn(rng, [3, 3, 3, 4], 0.5),
      tf.add(randn(rng, [4], 0.1), 1),
      randn(rng, [4], 0.1),
      randn(rng, [3, 3, 4, 5], 0.4),
      randn(rng, [5, 3], 0.5),
    ],
    loss: (x, labels, [w1, gamma, beta, w2, w3], relu) => {
      let h: T = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same');
      h = relu(batchNorm(h, gamma!, beta!), 0);
      h = tf.avgPool(h as tf.Tensor4D, 3, 1, 1);
      h = tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 1, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]);
      return crossEntropy(tf.matMul(tf.mean(h, [1, 2]), w3!), labels);
    },
  },
  {
    // Strides, max-pool, a dilated depthwise conv (DARTS' dil_conv) and a 2x2 reduction avg-pool.
    name: 'strided conv, maxpool, dilated depthwise, avgpool 2x2',
    params: (rng) => [randn(rng, [3, 3, 3, 4], 0.5), randn(rng, [3, 3, 4, 1], 0.5), randn(rng, [1, 1, 4, 4], 0.5), randn(rng, [4, 3], 0.5)],
    loss: (x, labels, [w1, wd, wp, w3], relu) => {
      let h: T = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same'); // 8 → 4
      h = tf.maxPool(relu(h, 0) as tf.Tensor4D, 3, 1, 'same');
      h = tf.depthwiseConv2d(h as tf.Tensor4D, wd as tf.Tensor4D, 1, 2, 'NHWC', 2);
      h = tf.conv2d(relu(h, 1) as tf.Tensor4D, wp as tf.Tensor4D, 1, 'valid');
      h = tf.avgPool(h as tf.Tensor4D, 2, 2, 'valid'); // 4 → 2
      return crossEntropy(tf.matMul(tf.reshape(tf.mean(h, [1, 2]), [-1, 4]), w3!), labels);
    },
  },
];

/** Hv by nested tf.grads: ∇_θ ⟨∇_θ L, v⟩. */
function hessianVectorProduct(loss: (ps: T[]) => tf.Scalar, params: T[], v: T[]): T[] {
  return tf.grads((...ps: T[]) => {
    const g = tf.grads((...qs: T[]) => loss(qs))(ps);
    return tf.addN(g.map((gi, i) => tf.sum(tf.mul(gi, v[i]!)))) as tf.Scalar;
  })(params);
}

function flatten(ts: T[]): Float32Array {
  return Float32Array.from(ts.flatMap((t) => Array.from(t.dataSync())));
}

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

describe.each(['cpu', 'wasm'])('Hessian-vector product on %s', (backend) => {
  test.each(NETS.map((n) => [n.name, n] as const))('%s: nested tf.grads equals the finite difference of the gradient', async (_name, net) => {
    await onBackend(backend, () => {
      const before = tf.memory().numTensors;
      const rng = new Rng(`hvp ${net.name}`);
      const x = randn(rng, [3, 8, 8, 3]);
      const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3, 1, 0, 'float32'));
      const params = tf.tidy(() => net.params(rng));
      const v = params.map((p) => randn(rng, p.shape));
      const loss = (ps: T[]) => net.loss(x, labels, ps, (h) => tf.relu(h));
      const hv = tf.tidy(() => flatten(hessianVectorProduct(loss, params, v)));

      // Reference: the same net with ReLU masks frozen at θ.
      const masks: T[] = [];
      tf.tidy(() => {
        net.loss(x, labels, params, (h, site) => {
          masks[site] = tf.keep(tf.step(h));
          return tf.relu(h);
        });
      });
      const frozen = (ps: T[]) => net.loss(x, labels, ps, (h, site) => tf.mul(h, masks[site]!));
      const gradAt = (step: number) => tf.tidy(() => flatten(tf.grads((...ps: T[]) => frozen(ps))(params.map((p, i) => tf.add(p, tf.mul(v[i]!, step))))));
      const central = (h: number) => {
        const plus = gradAt(h);
        const minus = gradAt(-h);
        return plus.map((p, i) => (p - minus[i]!) / (2 * h));
      };
      // Max-pool's routing is not frozen: a step this small does not reorder any window's values.
      const h = 1e-3;
      const c1 = central(h);
      const c2 = central(h / 2);
      const numeric = c2.map((c, i) => (4 * c - c1[i]!) / 3);

      let diff = 0;
      let norm = 0;
      for (let i = 0; i < hv.length; i++) {
        diff += (hv[i]! - numeric[i]!) ** 2;
        norm += numeric[i]! ** 2;
      }
      expect(norm).toBeGreaterThan(1e-6); // the product is not trivially zero
      expect(Math.sqrt(diff / norm)).toBeLessThan(2e-3);

      tf.dispose([x, labels, ...params, ...v, ...masks]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});

/**
 * Second derivatives of the smooth element-wise and softmax kernels one by one: the ones whose
 * stock gradients read the saved output, which the tape does not connect for second order.
 */
describe.each(['cpu', 'wasm'])('second derivatives of smooth kernels on %s', (backend) => {
  const positive = (t: T) => tf.add(tf.abs(t), 0.5);
  const cases: [string, (x: T) => T][] = [
    ['exp', tf.exp],
    ['sigmoid', tf.sigmoid],
    ['tanh', tf.tanh],
    ['softplus', tf.softplus],
    ['sqrt', (x) => tf.sqrt(positive(x))],
    ['rsqrt', (x) => tf.rsqrt(positive(x))],
    ['reciprocal', (x) => tf.reciprocal(positive(x))],
    ['log', (x) => tf.log(positive(x))],
    ['pow', (x) => tf.pow(positive(x), tf.sigmoid(x))],
    ['softmax', (x) => tf.softmax(x)],
    ['logSumExp', (x) => tf.logSumExp(x, 1)],
    ['div by a function of x', (x) => tf.div(tf.sin(x), positive(x))],
  ];
  test.each(cases)('%s', async (_name, op) => {
    await onBackend(backend, () => {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const rng = new Rng(`second ${_name}`);
        const x = randn(rng, [3, 5]);
        const v = randn(rng, [3, 5]);
        const r = randn(rng, op(x).shape);
        const loss = ([p]: T[]) => tf.sum(tf.mul(op(p!), r)) as tf.Scalar;
        const hv = hessianVectorProduct(loss, [x], [v])[0]!.dataSync();
        const gradAt = (s: number) =>
          tf
            .grads((p: T) => loss([p]))([tf.add(x, tf.mul(v, s))])[0]!
            .dataSync();
        const central = (h: number) => {
          const minus = gradAt(-h);
          return gradAt(h).map((g, i) => (g - minus[i]!) / (2 * h));
        };
        const c1 = central(1e-2);
        const c2 = central(5e-3);
        let diff = 0;
        let norm = 0;
        hv.forEach((value, i) => {
          const numeric = (4 * c2[i]! - c1[i]!) / 3;
          diff += (value - numeric) ** 2;
          norm += numeric ** 2;
        });
        expect(norm).toBeGreaterThan(1e-6);
        expect(Math.sqrt(diff / norm)).toBeLessThan(1e-3);
      });
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
