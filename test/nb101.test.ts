import { readFileSync } from 'fs';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import { initialValues } from '../src/core/nn/init';
import { traceShapes } from '../src/core/nn/shape';
import { TensorOps } from '../src/core/nn/tensor';
import { Rng } from '../src/core/rng';
import { searchSpace } from '../src/core/spaces';
import { nasbench101, parseNb101, pruneNb101, vertexChannels } from '../src/core/spaces/nasbench101';
import { taskSpec } from '../src/core/tasks';

// Bare floats per proxy; Python's -Infinity/NaN tokens replaced before parsing.
const reference = JSON.parse(
  readFileSync(join(__dirname, 'fixtures', 'reference', 'zc_nasbench101_subset.json'), 'utf8').replace(/-?Infinity|NaN/g, 'null'),
) as { nasbench101: { cifar10: Record<string, { params: number; flops: number }> } };

const FIRST =
  '(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)';

describe('NB101 params and flops equal NAS-Bench-Suite-Zero for every reference row', () => {
  test('500 cifar10 rows', () => {
    const rows = Object.entries(reference.nasbench101.cifar10);
    expect(rows.length).toBe(500);
    const sizes = new Set<number>();
    for (const [key, entry] of rows) {
      const arch = nasbench101.parse(key);
      expect(nasbench101.format(arch)).toBe(key);
      sizes.add(pruneNb101(arch)!.n);
      const trace = traceShapes(nasbench101.network(arch, taskSpec('cifar10')));
      expect(trace.paramCount / 1e6).toBeCloseTo(entry.params, 9);
      expect(trace.flops / 1e6).toBeCloseTo(entry.flops, 9);
    }
    // The subset exercises pruned cells from 2 to 7 vertices.
    expect(Math.min(...sizes)).toBe(2);
    expect(Math.max(...sizes)).toBe(7);
  });

  test('worked example of docs/search-spaces.md §2.5', () => {
    const arch = parseNb101(FIRST);
    const pruned = pruneNb101(arch)!;
    expect(pruned.n).toBe(6);
    expect(pruned.ops).toEqual([0, 2, 2, 4, 4, 1]);
    expect(vertexChannels(pruned, 128, 128).slice(1, 5)).toEqual([43, 43, 42, 42]);
    expect(vertexChannels(pruned, 256, 256).slice(1, 5)).toEqual([86, 85, 85, 85]);
    expect(vertexChannels(pruned, 256, 512).slice(1, 5)).toEqual([171, 171, 170, 170]);
    const t = traceShapes(nasbench101.network(arch, taskSpec('cifar10')));
    expect(t.paramCount).toBe(4095778);
    expect(t.flops).toBe(624558080);
    expect(t.featureShape).toEqual([1, 8, 8, 512]);
    expect(searchSpace('nasbench101')).toBe(nasbench101);
  });
});

describe('NB101 encodings', () => {
  test('any n²+n length (n ≤ 7) parses; a 5-vertex cell builds', () => {
    // 0→1, 1→2, 1→3, 2→3, 1→4, 2→4, 3→4, 0→4; ops conv1, maxpool, conv1.
    const m = [0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
    const key = `(${[...m, 0, 3, 2, 3, 1].join(', ')})`;
    const arch = parseNb101(key);
    expect(arch.n).toBe(5);
    expect(nasbench101.format(arch)).toBe(key);
    expect(parseNb101('(0, 1, 0, 0, 0, 1)').n).toBe(2);
    // Input → output only: one projection per cell.
    const t = traceShapes(nasbench101.network(parseNb101('(0, 1, 0, 0, 0, 1)'), taskSpec('cifar10')));
    const projections = 3 * (128 * 128 + 256) + (128 * 256 + 512) + 2 * (256 * 256 + 512) + (256 * 512 + 1024) + 2 * (512 * 512 + 1024);
    expect(t.paramCount).toBe(3712 + projections + 5130);
  });

  const bad: Array<[string, RegExp]> = [
    ['(0, 1, 1, 1)', /n²\+n/], // 4 integers: not n²+n
    ['(0, 1, 0, 0, 0, 1, 1)', /n²\+n/],
    ['(0, 1, 1, 0, 0, 1)', /below the diagonal/], // edge 1→0: a cycle 0→1→0
    ['(1, 1, 0, 0, 0, 1)', /self-loop/],
    ['(0, 2, 0, 0, 0, 1)', /entry \(0, 1\) is 2/],
    ['(0, 1, 0, 0, 1, 0)', /start with 0 and end with 1/],
    ['(0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 5, 1)', /vertex 1 has op 5/],
    ['(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1)', /not reachable/],
    ['[0, 1, 0, 0, 0, 1]', /invalid arch/],
    ['(0, 1, 0, 0, 0, x)', /invalid arch/],
  ];
  test.each(bad)('rejects %s naming the value', (text, why) => {
    expect(() => parseNb101(text)).toThrow(why);
    expect(() => parseNb101(text)).toThrow(JSON.stringify(text));
  });
  test('the cell of a 64-vertex-long matrix (n = 8) is too large', () => {
    const key = `(${[...new Array(64).fill(0), ...new Array(8).fill(0)].join(', ')})`;
    expect(() => parseNb101(key)).toThrow(/2 ≤ n ≤ 7/);
  });
});

describe('NB101 forward (TensorOps, cpu)', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  // The network is size-generic: a 16×16 input keeps the pure-JS cpu backend quick (32×32 is covered by the counts above).
  test('batch 2 through a cell with truncation, concat and projection: [2, 10] logits, no leaked tensors', () => {
    const m = [0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
    const task = { ...taskSpec('cifar10'), inputShape: [16, 16, 3] as [number, number, number] };
    const net = nasbench101.network(parseNb101(`(${[...m, 0, 3, 2, 3, 1].join(', ')})`), task);
    const trace = traceShapes(net);
    const rng = new Rng(7);
    const weights = new Map(trace.params.map((p) => [p.name, tf.tensor(initialValues(p, net.init, rng), p.shape)]));
    const x = tf.randomNormal([2, 16, 16, 3]);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const ops = new TensorOps((name) => weights.get(name)!);
      const y = net.forward(ops, x);
      expect(ops.featureMap!.shape).toEqual([2, 4, 4, 512]);
      return y;
    });
    expect(out.shape).toEqual([2, 10]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...weights.values()]);
  });
});
