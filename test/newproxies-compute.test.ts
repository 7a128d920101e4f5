import { initBackend, tf } from '../src/core/backend';
import { computeProxies, estimateJobMemory } from '../src/core/compute';
import { AZ_NAS_PARTS, NEWER_PROXIES, parseComputeProxyList, parseProxyList } from '../src/core/names';
import { traceShapes } from '../src/core/nn/shape';
import { nasbench201 } from '../src/core/spaces/nasbench201';
import { taskSpec } from '../src/core/tasks';

/** The newer proxies through the core's entry point: names, their extra minibatch and draws, memory. */
const ARCH = '(0, 2, 3, 2, 3, 1)';

describe('names', () => {
  test("compute accepts the newer proxies, az_nas standing for its four parts; all stays the paper's 13", () => {
    expect(parseComputeProxyList('az_nas,zico,snip')).toEqual(['snip', 'zico', ...AZ_NAS_PARTS]);
    expect(parseComputeProxyList('all')).toHaveLength(13);
    expect(() => parseComputeProxyList('zicoo', undefined, '--proxies')).toThrow(/invalid --proxies: "zicoo" \(valid: epe_nas.*zico.*az_nas\)/);
    // Dataset queries name any column, the combined az_nas too; `all` stays the paper's 13.
    expect(parseProxyList('zico,az_nas')).toEqual(['zico', 'az_nas']);
    expect(parseProxyList('all')).toHaveLength(13);
    expect(() => parseProxyList('zicoo')).toThrow(/"zicoo"/);
  });
});

describe('computeProxies with the newer proxies', () => {
  beforeAll(async () => {
    await initBackend();
  });

  test('finite scores (all parts), every tensor freed, the second minibatch drawn from the seed', async () => {
    const before = tf.memory().numTensors;
    const request = {
      space: 'nasbench201' as const,
      task: 'cifar10' as const,
      arch: ARCH,
      proxies: [...NEWER_PROXIES],
      seed: 5,
      batchSize: 4,
      data: { source: 'synthetic' as const },
    };
    const first = await computeProxies(request);
    expect(tf.memory().numTensors).toBe(before);
    for (const p of NEWER_PROXIES) expect(Number.isFinite(first.results[p]!.score)).toBe(true);
    expect(first.results['az_nas.complexity']!.score).toBeCloseTo(88.307392, 9);
    // swap counts patterns over 2·4 images: at most 2^8.
    expect(first.results.swap!.score).toBeGreaterThan(1);
    expect(first.results.swap!.score).toBeLessThanOrEqual(256);
    const other = await computeProxies({ ...request, seed: 6 });
    expect(other.results.zico!.score).not.toBe(first.results.zico!.score);
    expect(other.results['az_nas.trainability']!.score).not.toBe(first.results['az_nas.trainability']!.score);
  });
});

describe('estimateJobMemory plans the new passes from their definitions', () => {
  test("zico adds the second minibatch and its gradients' copies to grad_norm's plan", () => {
    const batchSize = 8;
    const task = taskSpec('cifar10');
    const net = nasbench201.network(nasbench201.parse(ARCH), task);
    const params = traceShapes(net, 1).paramCount;
    const outputs = traceShapes(net, batchSize).outputElements;
    const estimate = (proxies: ('grad_norm' | 'zico')[]) => estimateJobMemory({ space: 'nasbench201', task: 'cifar10', arch: ARCH, batchSize, proxies });
    const secondMinibatch = batchSize * 32 * 32 * 3 * 4 * 3 + outputs * 4;
    expect(estimate(['zico']) - estimate(['grad_norm'])).toBe(secondMinibatch + params * 4 * 3);
  });
});
