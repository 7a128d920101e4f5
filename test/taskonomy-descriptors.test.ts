import { TASKONOMY_TASKS, TASKS } from '../src/core/names';
import { searchSpace } from '../src/core/spaces';
import { TASK_SPECS } from '../src/core/tasks';

/** Each Taskonomy task is one descriptor (target, augmentation, decoder) that the loader and the networks read. */
describe('Taskonomy task descriptors', () => {
  test('exactly the Taskonomy tasks have one', () => {
    expect(TASKS.filter((t) => TASK_SPECS[t].taskonomy !== undefined)).toEqual([...TASKONOMY_TASKS]);
  });

  test.each([...TASKONOMY_TASKS])('%s: the descriptor decides the network it gets', (task) => {
    const spec = TASK_SPECS[task];
    const d = spec.taskonomy!;
    // Tiles exactly where the target is the tiles' permutation (jigsaw).
    expect(d.decoder === 'tiles').toBe(spec.tiles !== undefined);
    expect(d.target.kind === 'permutation').toBe(d.decoder === 'tiles');
    for (const [name, arch] of [
      ['transbench101_micro', '(1, 0, 0, 2, 1, 0)'],
      ['transbench101_macro', '(1, 2, 4, 2)'],
    ] as const) {
      const space = searchSpace(name);
      const net = space.network(space.parse(arch), spec);
      // TNB's GAN models (the generative decoder) carry the discriminator they never run.
      expect((net.unusedParams?.length ?? 0) > 0).toBe(d.decoder === 'generative');
      expect(net.inputShape).toEqual(spec.tiles ? [spec.tiles, ...spec.inputShape] : spec.inputShape);
    }
  });
});
