import { readableArch, searchSpace } from '../src/core/spaces';
import { SPACES } from '../src/core/names';
import { Dataset } from '../src/storage/dataset';
import type { StoredRow } from '../src/storage/parquet';
import { row } from './helpers/s3';

/** Each space's readable form, written out by hand from the space's conventions (not from its code). */
describe('readable architectures', () => {
  const NB301 = '[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]';
  const NB101 = '(0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 3, 1)'; // 3 vertices: 0→1, 0→2, 1→2; ops input, conv1x1, output
  const cases: [(typeof SPACES)[number], string, string, string][] = [
    ['nasbench201', 'cifar10', '(0, 2, 3, 2, 3, 1)', '|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|'],
    [
      'nasbench301',
      'cifar10',
      NB301,
      "Genotype(normal=[('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('avg_pool_3x3', 1), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 3)], normal_concat=[2, 3, 4, 5], " +
        "reduce=[('max_pool_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('max_pool_3x3', 3), ('avg_pool_3x3', 0), ('max_pool_3x3', 2), ('dil_conv_5x5', 3)], reduce_concat=[2, 3, 4, 5])",
    ],
    ['nasbench101', 'cifar10', NB101, '{"matrix":[[0,1,1],[0,0,1],[0,0,0]],"ops":["input","conv1x1-bn-relu","output"]}'],
    // TNB convention (destination-major positions; 0 zero, 1 skip, 2 conv1x1, 3 conv3x3) ...
    ['transbench101_micro', 'class_scene', '(1, 0, 2, 3, 1, 0)', '|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|none~2|'],
    // ... and the 9x tasks' NASLib graph (source-major as NB201; 0 skip, 1 zero, 2 conv3x3, 3 conv1x1): same key, another cell.
    ['transbench101_micro', 'svhn', '(1, 0, 2, 3, 1, 0)', '|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|skip_connect~2|'],
    ['transbench101_macro', 'jigsaw', '(1, 2, 4, 2)', '64-1242-basic'],
  ];
  test.each(cases)('%s/%s %s', (space, task, key, readable) => {
    expect(readableArch(space, key, task as never)).toBe(readable);
  });

  test('every space has one', () => {
    for (const s of SPACES) expect(typeof searchSpace(s).readable).toBe('function');
  });

  test('a Dataset finds an architecture by any spelling: key, no spaces, readable form', () => {
    const rows: StoredRow[] = cases.map(([space, task, key], i) => ({
      ...row({ space, task: task as never, arch: key, proxy: 'params', score: i }),
      valAccuracy: null,
    }));
    const ds = new Dataset('t', 'v1', null, rows, []);
    cases.forEach(([space, task, key, readable], i) => {
      for (const spelling of [key, key.replace(/\s+/g, ''), readable]) {
        expect({ spelling, found: ds.findArch(space, task as never, spelling), score: ds.score(space, task as never, spelling, 'params') }).toEqual({
          spelling,
          found: key,
          score: i,
        });
      }
      expect(ds.readable(space, task as never, key)).toBe(readable);
    });
    expect(ds.findArch('nasbench201', 'cifar10', '(1, 1, 1, 1, 1, 1)')).toBeUndefined();
    expect(ds.findArch('nasbench201', 'cifar10', 'not an arch')).toBeUndefined();
  });
});
