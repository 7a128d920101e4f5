import { readFileSync } from 'fs';
import { join } from 'path';
import { traceShapes } from '../src/core/nn/shape';
import { nasbench201, nb201String, parseNb201, enumerateNb201 } from '../src/core/spaces/nasbench201';
import { taskSpec } from '../src/core/tasks';
import type { TaskName } from '../src/core/names';

interface Entry {
  params: { score: number };
  flops: { score: number };
}
// The released file holds Python's -Infinity/NaN tokens (nwot); params/flops never use them.
const reference = JSON.parse(
  readFileSync(join(__dirname, 'fixtures', 'reference', 'zc_nasbench201_subset.json'), 'utf8').replace(/-?Infinity|NaN/g, 'null'),
) as Record<string, Record<string, Entry>>;

describe('NB201 params and flops equal NAS-Bench-Suite-Zero for every reference row', () => {
  for (const task of ['cifar10', 'cifar100', 'ImageNet16-120'] as TaskName[]) {
    test(task, () => {
      const rows = Object.entries(reference[task]!);
      expect(rows.length).toBeGreaterThan(700);
      let checked = 0;
      for (const [key, entry] of rows) {
        const arch = nasbench201.parse(key);
        const trace = traceShapes(nasbench201.network(arch, taskSpec(task)));
        // Exact integer counts; the reference stores count / 1e6.
        expect(trace.paramCount / 1e6).toBeCloseTo(entry.params.score, 9);
        expect(trace.flops / 1e6).toBeCloseTo(entry.flops.score, 9);
        checked++;
      }
      expect(checked).toBe(rows.length);
    });
  }
  test('row count over the three datasets', () => {
    const total = Object.values(reference).reduce((n, rows) => n + Object.keys(rows).length, 0);
    expect(total).toBe(2174);
  });
});

describe('NB201 architecture strings', () => {
  test('tuple and NB201 API string describe the same cell', () => {
    const arch = parseNb201('(0, 2, 3, 2, 3, 1)');
    expect(nb201String(arch)).toBe('|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|');
    expect(parseNb201(nb201String(arch))).toEqual(arch);
  });
  test('enumerates all 15,625 cells once, each round-tripping', () => {
    const all = [...enumerateNb201()];
    expect(all.length).toBe(15625);
    expect(new Set(all).size).toBe(15625);
    for (const s of all.slice(0, 50)) expect(nasbench201.format(parseNb201(s))).toBe(s);
    expect(all).toContain('(4, 0, 3, 1, 4, 3)');
  });
  test.each(['(0, 2, 3, 2, 3)', '(0, 2, 3, 2, 3, 5)', 'banana', '|none~0|+|none~0|', '(0,2,3,2,3,1,1)'])('rejects %s naming the value', (bad) => {
    expect(() => parseNb201(bad)).toThrow(/invalid arch: .*valid|invalid arch/);
    expect(() => parseNb201(bad)).toThrow(JSON.stringify(bad));
  });
  test('worked examples of docs/search-spaces.md', () => {
    const t = traceShapes(nasbench201.network(parseNb201('(4, 0, 3, 1, 4, 3)'), taskSpec('cifar10')));
    expect(t.paramCount).toBe(129306);
    expect(t.flops).toBe(19248832);
  });
});
