import { readFileSync } from 'fs';
import { join } from 'path';
import { resolveRequest } from '../src/core/compute';
import { SPACE_TASKS, SPACES, type SpaceName, type TaskName } from '../src/core/names';
import { ShapeOps, traceShapes } from '../src/core/nn/shape';
import { searchSpace } from '../src/core/spaces';
import { taskSpec } from '../src/core/tasks';

/** One architecture per space (its first listed one), to build every (space, task) pair of the paper. */
const fixture = (name: string) => Object.values(JSON.parse(readFileSync(join(__dirname, 'fixtures', 'reference', name), 'utf8')) as Record<string, string>);
const FIRST_NB101 =
  '(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)';
const ARCH: Record<SpaceName, string> = {
  nasbench101: FIRST_NB101,
  nasbench201: fixture('archs_nasbench201.json')[0]!,
  nasbench301: fixture('archs_nasbench301.json')[0]!,
  transbench101_micro: fixture('archs_transbench101_micro.json')[0]!,
  transbench101_macro: fixture('archs_transbench101_macro.json')[0]!,
};

const pairs = SPACES.flatMap((space) => SPACE_TASKS[space].map((task) => [space, task] as [SpaceName, TaskName]));

describe('every (space, task) pair of the paper builds through the registry', () => {
  test('28 pairs', () => expect(pairs.length).toBe(28));
  test.each(pairs)('%s / %s: network traces, output and Φ shapes fit the task', (space, task) => {
    const { net, canonicalArch } = resolveRequest({
      space,
      task,
      arch: ARCH[space],
      proxies: ['params'],
      seed: 0,
      batchSize: 1,
      data: { source: 'synthetic' },
    });
    expect(searchSpace(space).name).toBe(space);
    expect(canonicalArch.startsWith(space === 'nasbench301' ? '[[' : '(')).toBe(true);
    const spec = taskSpec(task);
    expect(net.inputShape).toEqual(spec.tiles ? [spec.tiles, ...spec.inputShape] : spec.inputShape);
    expect(net.outputs).toBe(spec.outputs);
    const trace = traceShapes(net, 2);
    expect(trace.paramCount).toBeGreaterThan(0);
    expect(trace.featureShape!.length).toBe(4);
    expect(trace.featureShape![0]).toBe(2);
    const out = net.forward(new ShapeOps(), [2, ...net.inputShape]);
    const pixel = spec.loss === 'pixel_ce' || spec.loss === 'l1';
    expect(out).toEqual(pixel ? [2, ...spec.inputShape.slice(0, 2), spec.outputs] : [2, spec.outputs]);
  });
  test('an architecture of another space is an InputError naming it', () => {
    expect(() =>
      resolveRequest({
        space: 'transbench101_macro',
        task: 'jigsaw',
        arch: '(1, 0, 0, 2, 1, 0)',
        proxies: ['params'],
        seed: 0,
        batchSize: 1,
        data: { source: 'synthetic' },
      }),
    ).toThrow(/invalid arch: "\(1, 0, 0, 2, 1, 0\)"/);
    expect(() =>
      resolveRequest({
        space: 'nasbench101',
        task: 'cifar10',
        arch: ARCH.nasbench301,
        proxies: ['params'],
        seed: 0,
        batchSize: 1,
        data: { source: 'synthetic' },
      }),
    ).toThrow(/invalid arch/);
  });
});

describe('NB201 architecture lists (the remaining archs_*.json files) parse and trace', () => {
  test('archs_nasbench201.json is the whole space', () => {
    const keys = fixture('archs_nasbench201.json');
    expect(keys.length).toBe(15625);
    const space = searchSpace('nasbench201');
    expect(new Set(keys)).toEqual(new Set(space.enumerate!()));
    for (const key of keys) expect(space.format(space.parse(key))).toBe(key);
    for (const key of keys.slice(0, 500)) expect(traceShapes(space.network(space.parse(key), taskSpec('cifar10'))).featureShape).toEqual([1, 8, 8, 64]);
  });
  test.each([
    ['svhn', [1, 8, 8, 64]],
    ['ninapro', [1, 4, 13, 64]],
    ['scifar100', [1, 15, 15, 64]],
  ] as Array<[TaskName, number[]]>)('the 199 cells of archs_nasbench2019x.json on %s', (task, phi) => {
    const keys = fixture('archs_nasbench2019x.json');
    expect(keys.length).toBe(199);
    const space = searchSpace('nasbench201');
    for (const key of keys) expect(traceShapes(space.network(space.parse(key), taskSpec(task))).featureShape).toEqual(phi);
  });
});
