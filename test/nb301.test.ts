import { readFileSync } from 'fs';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import { initialValues } from '../src/core/nn/init';
import { traceShapes } from '../src/core/nn/shape';
import { TensorOps } from '../src/core/nn/tensor';
import type { TaskName } from '../src/core/names';
import { Rng } from '../src/core/rng';
import { searchSpace } from '../src/core/spaces';
import { nasbench301, parseNb301 } from '../src/core/spaces/nasbench301';
import { taskSpec } from '../src/core/tasks';

const fixture = (name: string) => readFileSync(join(__dirname, 'fixtures', 'reference', name), 'utf8').replace(/-?Infinity|NaN/g, 'null');
const reference = JSON.parse(fixture('zc_nasbench301_subset.json')) as { cifar10: Record<string, { params: { score: number }; flops: { score: number } }> };
const archs = JSON.parse(fixture('archs_nasbench301.json')) as Record<string, string>;
const archs9x = JSON.parse(fixture('archs_nasbench3019x.json')) as Record<string, string>;

const FIRST = '[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]';

describe('NB301 params and flops equal NAS-Bench-Suite-Zero for every reference row', () => {
  test('725 cifar10 rows', () => {
    const rows = Object.entries(reference.cifar10);
    expect(rows.length).toBe(725);
    for (const [key, entry] of rows) {
      const arch = nasbench301.parse(key);
      expect(nasbench301.format(arch)).toBe(key);
      const trace = traceShapes(nasbench301.network(arch, taskSpec('cifar10')));
      expect(trace.paramCount / 1e6).toBeCloseTo(entry.params.score, 9);
      expect(trace.flops / 1e6).toBeCloseTo(entry.flops.score, 9);
    }
  });

  test('worked example of docs/search-spaces.md §3.3', () => {
    const t = traceShapes(nasbench301.network(parseNb301(FIRST), taskSpec('cifar10')));
    expect(t.paramCount).toBe(856298);
    expect(t.flops).toBe(153499136);
    expect(t.featureShape).toEqual([1, 8, 8, 512]);
    expect(searchSpace('nasbench301')).toBe(nasbench301);
  });
});

describe('NB301 architecture lists trace on their tasks (shapes only)', () => {
  test('all 11,221 genotypes of archs_nasbench301.json (archs-file tuple form) on cifar10', () => {
    const keys = Object.values(archs);
    expect(keys.length).toBe(11221);
    for (const key of keys) {
      const arch = nasbench301.parse(key);
      // The archs file's nested tuples and the table's list form are the same genotype.
      expect(nasbench301.parse(nasbench301.format(arch))).toEqual(arch);
      const t = traceShapes(nasbench301.network(arch, taskSpec('cifar10')));
      expect(t.featureShape).toEqual([1, 8, 8, 512]);
    }
  });

  test.each([
    ['svhn', [1, 8, 8, 512], 10],
    ['ninapro', [1, 4, 13, 512], 18],
    ['scifar100', [1, 15, 15, 512], 100],
  ] as Array<[TaskName, number[], number]>)('the 199 genotypes of archs_nasbench3019x.json on %s', (task, feature, outputs) => {
    const keys = Object.values(archs9x);
    expect(keys.length).toBe(199);
    const spec = taskSpec(task);
    for (const key of keys) {
      const t = traceShapes(nasbench301.network(nasbench301.parse(key), spec));
      expect(t.featureShape).toEqual(feature);
      // Only the stem and the classifier depend on the task: params differ from cifar10 by 864·(c_in − 3) + 513·(K − 10).
      const c10 = traceShapes(nasbench301.network(nasbench301.parse(key), taskSpec('cifar10')));
      expect(t.paramCount - c10.paramCount).toBe(864 * (spec.inputShape[2] - 3) + 513 * (outputs - 10));
    }
  });
});

describe('NB301 encodings', () => {
  test('both key forms give the same genotype; the canonical form is the ZC table’s', () => {
    const tuple = '(((0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)), ((1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)))';
    expect(parseNb301(tuple)).toEqual(parseNb301(FIRST));
    expect(nasbench301.format(parseNb301(tuple))).toBe(FIRST);
  });
  const ok = FIRST;
  const bad: Array<[string, RegExp]> = [
    [ok.replace('(3, 6)]]', '(3, 7)]]'), /unknown op index 7/],
    [ok.replace('[[(0, 0), (1, 5)', '[[(2, 0), (1, 5)'), /normal node 0 reads input 2/],
    [ok.replace('(1, 3), (0, 3), (3, 0)', '(1, 3), (1, 3), (3, 0)'), /reduction node 1 reads input 1 twice/],
    [ok.replace(', (3, 2)]', ']'), /invalid arch/], // 7 edges
    [ok.replace('[[', '[(').replace('], [', '), ['), /invalid arch/], // mixed brackets
    ['(0, 2, 3, 2, 3, 1)', /invalid arch/],
  ];
  test.each(bad)('rejects %s naming the value', (text, why) => {
    expect(() => parseNb301(text)).toThrow(why);
    expect(() => parseNb301(text)).toThrow(JSON.stringify(text));
  });
  test('tasks outside the space are refused', () => {
    expect(() => nasbench301.network(parseNb301(FIRST), taskSpec('cifar100'))).toThrow(/invalid task: "cifar100"/);
  });
});

describe('NB301 forward (TensorOps, cpu)', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  test('ninapro, batch 2: stride-2 dilated and separable convs, factorized reduce; [2, 18] logits, no leaked tensors', () => {
    // Reduction cell: dil_conv_5x5 and sep_conv_3x3 at stride 2, skip (FR°) from c_{k−2}, pools.
    const key = '[[(0, 1), (1, 3), (1, 2), (0, 0), (1, 2), (2, 5), (1, 1), (3, 2)], [(1, 6), (0, 2), (1, 3), (0, 0), (3, 0), (0, 1), (2, 2), (3, 1)]]';
    const net = nasbench301.network(parseNb301(key), taskSpec('ninapro'));
    const trace = traceShapes(net);
    const rng = new Rng(11);
    const weights = new Map(trace.params.map((p) => [p.name, tf.tensor(initialValues(p, net.init, rng), p.shape)]));
    const x = tf.randomNormal([2, 16, 52, 1]);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const ops = new TensorOps((name) => weights.get(name)!);
      const y = net.forward(ops, x);
      expect(ops.featureMap!.shape).toEqual([2, 4, 13, 512]);
      return y;
    });
    expect(out.shape).toEqual([2, 18]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...weights.values()]);
  });
});
