import { initBackend, tf } from '../src/core/backend';
import { computeProxies, initialWeights } from '../src/core/compute';
import { targetTensor } from '../src/core/loss';
import { traceShapes } from '../src/core/nn/shape';
import { forward, gradient, hessian, jacobian, Passes, type PassDefinition } from '../src/core/passes';
import { drawZen, zenPass } from '../src/core/proxies/zen';
import { Rng } from '../src/core/rng';
import { ShardAbortedError, ShardGroup, shardMemory } from '../src/core/shards/shard-group';
import { shardNetwork } from '../src/core/shards/shard-passes';
import { ShardedJob, stopShardThreads } from '../src/core/shards/sharded-job';
import type { ComputeRequest } from '../src/core/types';

/**
 * A job's passes on its minibatch split between wasm heaps (src/core/shards): batch norm, the loss
 * and the results are summed over the shards, so gradient (and fisher), hessian (grasp's H·g),
 * jacobian, nwot's forward and zen must equal the unsplit passes up to float rounding, on even and uneven splits,
 * with and without recomputed segments; a failing shard is an error, never a wait.
 */
const NETWORK = { space: 'nasbench201', task: 'cifar10', arch: '(0, 2, 3, 2, 3, 1)' } as const;
const BATCH = 7;

function setUp() {
  const net = shardNetwork(NETWORK);
  const trace = traceShapes(net, 1);
  const weights = initialWeights(trace.params, net.init, new Rng(3));
  const x = tf.randomNormal([BATCH, 32, 32, 3], 0, 1, 'float32', 5);
  const target = targetTensor({ kind: 'class', labels: Int32Array.from({ length: BATCH }, (_, i) => (i * 3) % 10) }, 10);
  const zen = drawZen(trace, [BATCH, 32, 32, 3], new Rng(4));
  return { net, trace, weights, batchSize: BATCH, x, target, zen, zenDraws: () => zen };
}

function disposeAll({ weights, x, target, zen }: Inputs): void {
  for (const t of [...weights.values(), x, target.values, ...zen.weights.values(), zen.input, zen.noise]) t.dispose();
}

type Inputs = ReturnType<typeof setUp>;

function passesOf({ net, trace, weights, x, target, zenDraws }: Inputs, recomputed: Set<string>): Passes {
  return new Passes({
    net,
    loss: 'ce',
    weights,
    params: trace.params,
    batchNorms: trace.batchNorms,
    x,
    target,
    recomputed,
    zenDraws,
  });
}

/** Every value of `a` within `rel` of `b`'s largest magnitude (a weight no loss reaches: both 0). */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number): number {
  expect(a.length).toBe(b.length);
  const scale = Math.max(...Array.from(b, Math.abs));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThanOrEqual(rel * scale + 1e-12);
  return scale;
}

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  await stopShardThreads();
});

// Exchanges of 1000 float64 per chunk: the weight gradients and the jacobian rows (3 × 3072 per
// shard, of unequal lengths at 7 samples over 2 or 3 shards) take several chunks.
describe.each([
  [2, 'kept', false],
  [3, 'recomputed', false],
  [2, 'recomputed', true],
])('%i shards, segments %s, layer cache %s', (shards, segments, cacheLayers) => {
  test('gradient, fisher, H·g and the input jacobian equal the unsplit passes', () => {
    const inputs = setUp();
    const recomputed = new Set(segments === 'recomputed' ? ['gradient', 'hessian', 'jacobian'] : []);
    const whole = passesOf(inputs, recomputed);
    const job = new ShardedJob({ ...inputs, network: NETWORK, plan: { recomputed, cacheLayers }, shards, exchangeCapacity: 1000 });
    const split = new Passes({ ...passesOf(inputs, recomputed).inputs, sharding: job });
    try {
      expect(job.shards).toBe(shards);
      const [g1, g2] = [whole.get(gradient), split.get(gradient)];
      for (const [name, t] of g1.grads) expectClose(g2.grads.get(name)!.dataSync(), t.dataSync(), 1e-4);
      expectClose([...g2.fisher.values()], [...g1.fisher.values()], 1e-4);
      const [h1, h2] = [whole.get(hessian), split.get(hessian)];
      // Most weights have a non-zero H·g (the comparison is not vacuous).
      const scales = [...h1].map(([name, t]) => expectClose(h2.get(name)!.dataSync(), t.dataSync(), 1e-3));
      expect(scales.filter((s) => s > 0).length).toBeGreaterThan(scales.length / 2);
      expectClose(split.get(jacobian), whole.get(jacobian), 1e-4);
      // nwot's agreement counts are integers: exactly the unsplit ones (ReLU signs of equal statistics).
      expect(Array.from(split.get(forward))).toEqual(Array.from(whole.get(forward)));
      // zen: batch norm's variances over every shard's samples, Δ's mean over all of them.
      const [z1, z2] = [whole.get(zenPass), split.get(zenPass)];
      expect(Math.abs(z2.logDelta - z1.logDelta)).toBeLessThanOrEqual(1e-5 * Math.abs(z1.logDelta));
      expect(Math.abs(z2.bnLogRho - z1.bnLogRho)).toBeLessThanOrEqual(1e-5 * Math.abs(z1.bnLogRho));
    } finally {
      whole.dispose();
      split.dispose();
      job.dispose();
      disposeAll(inputs);
    }
  }, 120_000);
});

// zen alone reads no minibatch (its draws have the batch's size): split all the same.
test.each([[['fisher', 'grad_norm', 'grasp', 'jacov', 'nwot', 'plain', 'snip', 'params', 'zen']], [['zen', 'params']]] as const)(
  'a job split between 2 heaps scores what the unsplit job scores, and says so (%s)',
  async (proxies) => {
    const req: ComputeRequest = { ...NETWORK, proxies: [...proxies], seed: 1, batchSize: 6, data: { source: 'synthetic' } };
    const one = await computeProxies(req);
    const two = await computeProxies({ ...req, shards: 2 });
    expect(one.shards).toBeUndefined();
    expect(two.shards).toBe(2);
    expect(two.backend).toBe('wasm');
    for (const p of req.proxies) {
      const [a, b] = [one.results[p]!.score, two.results[p]!.score];
      expect(Math.abs(b - a)).toBeLessThanOrEqual(1e-4 * Math.abs(a) + 1e-9);
    }
  },
  120_000,
);

test('a shard that fails is reported with its cause; the others stop waiting', () => {
  const inputs = setUp();
  const plan = { recomputed: new Set<string>(), cacheLayers: false };
  const job = new ShardedJob({ ...inputs, network: NETWORK, plan, shards: 2 });
  // Shard 0 runs the gradient; shard 1 is told a pass it does not know and fails at once.
  const unknown = { ...gradient, name: 'no-such-pass' } as unknown as PassDefinition<string, unknown>;
  try {
    expect(() => job.run(unknown)).toThrow(/batch shard failed \(no-such-pass\)/);
    // The threads survive a failed pass: the next job runs.
    const again = new ShardedJob({ ...inputs, network: NETWORK, plan, shards: 2 });
    expect(again.run(gradient).grads.size).toBeGreaterThan(0);
    again.dispose();
  } finally {
    job.dispose();
    disposeAll(inputs);
  }
}, 120_000);

test('a shard whose partners never arrive gives up after its wait bound', () => {
  const group = new ShardGroup(shardMemory(2, 8), 0, 4, 0, 2, 200);
  expect(() => group.sum([1, 2])).toThrow(ShardAbortedError);
  expect(() => group.sum([1, 2])).toThrow(/another shard failed/);
});
