import { InputError } from '../src/errors';
import { archFeatures, cellSizeNb201, convPoolNb201, convPoolNb301, numSkipNb201, numSkipNb301, parseNb201Arch, parseNb301Arch } from '../src/report/features';

describe('NB201 features (ops 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avgpool)', () => {
  it('parses the tuple string', () => {
    expect(parseNb201Arch('(0, 2, 3, 2, 3, 1)')).toEqual([0, 2, 3, 2, 3, 1]);
  });

  it('counts conv − pool, non-none edges and skips', () => {
    // (0, 2, 3, 2, 3, 1): four convs, no pool, one none, one skip.
    expect(archFeatures('nasbench201', '(0, 2, 3, 2, 3, 1)')).toEqual({ conv_pool: 4, cell_size: 5, num_skip: 1 });
    // (4, 0, 3, 1, 4, 3): convs on two edges, pools on two, one none, one skip.
    expect(archFeatures('nasbench201', '(4, 0, 3, 1, 4, 3)')).toEqual({ conv_pool: 0, cell_size: 5, num_skip: 1 });
    expect(convPoolNb201([4, 4, 4, 4, 4, 4])).toBe(-6);
    expect(cellSizeNb201([1, 1, 1, 1, 1, 1])).toBe(0);
    expect(numSkipNb201([0, 0, 0, 1, 2, 0])).toBe(4);
  });

  it('rejects malformed tuples naming the field and value', () => {
    for (const bad of ['(0, 2, 3, 2, 3)', '(0, 2, 3, 2, 3, 5)', '0, 2, 3, 2, 3, 1', '(0, 2, 3, 2, 3, x)', '((0, 1), 2, 3, 4, 0, 0)']) {
      expect(() => parseNb201Arch(bad)).toThrow(InputError);
      expect(() => parseNb201Arch(bad)).toThrow(`invalid nasbench201 arch: ${JSON.stringify(bad)}`);
    }
  });
});

describe('NB301 features (ops 0 max_pool, 1 avg_pool, 2 skip, 3 sep3, 4 sep5, 5 dil3, 6 dil5)', () => {
  const listForm = '[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (0, 6), (1, 4), (2, 2), (3, 2), (4, 5), (0, 3)]]';
  const tupleForm = listForm.replace(/\[/g, '(').replace(/\]/g, ')');

  it('parses the list form of the ZC tables and the tuple form of the archs files alike', () => {
    const cells = parseNb301Arch(listForm);
    expect(cells).toHaveLength(2);
    expect(cells[0]![1]).toEqual([1, 5]);
    expect(parseNb301Arch(tupleForm)).toEqual(cells);
  });

  it('counts conv − pool and skips over both cells; cell size is not defined', () => {
    // normal ops: 0 5 1 1 3 3 3 2 → pools 3 (0,1,1), convs 4 (5,3,3,3), skips 1
    // reduce ops: 0 2 6 4 2 2 5 3 → pools 1, convs 4 (6,4,5,3), skips 3
    const cells = parseNb301Arch(listForm);
    expect(convPoolNb301(cells)).toBe(8 - 4);
    expect(numSkipNb301(cells)).toBe(4);
    expect(archFeatures('nasbench301', listForm)).toEqual({ conv_pool: 4, cell_size: null, num_skip: 4 });
  });

  it('rejects genotypes of the wrong shape', () => {
    expect(() => parseNb301Arch('[[(0, 0), (1, 5)], [(1, 0), (0, 2)]]')).toThrow('invalid nasbench301 arch');
    expect(() => parseNb301Arch(listForm.replace('(3, 2)', '(3, 7)'))).toThrow(InputError);
  });

  it('has no features for other spaces', () => {
    expect(() => archFeatures('nasbench101', '(0, 1)')).toThrow('invalid space: "nasbench101"');
  });
});
