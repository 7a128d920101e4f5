import { routeByMemory, type PlannedMemory } from '../src/queue/memory-route';

/** Where a tensor job runs by its memory plan (the worker's rule), on made-up plans: no Redis, no tensors. */
const MB = 2 ** 20;
/** A plan that needs `perSample` MB per sample of the batch. */
const linear =
  (perSample: number) =>
  (batchSize: number): PlannedMemory => ({ needed: perSample * batchSize * MB, recompute: 'always' });

describe('routeByMemory', () => {
  test("within the budget: runs at the requested batch size with the plan's recompute policy", () => {
    const planned: PlannedMemory = { needed: 900 * MB, recompute: 'auto' };
    expect(routeByMemory('light', 1000 * MB, 64, planned, linear(1))).toEqual({ kind: 'run', batchSize: 64, recompute: 'auto', halved: false });
  });

  test('over the light budget: moves to the heavy pool, naming both sizes', () => {
    expect(routeByMemory('light', 1000 * MB, 64, linear(20)(64), linear(20))).toEqual({
      kind: 'move-to-heavy',
      reason: 'estimated 1280 MB > light budget 1000 MB',
    });
  });

  test('over the heavy budget: half the batch when that fits, else out of memory', () => {
    expect(routeByMemory('heavy', 1000 * MB, 64, linear(20)(64), linear(20))).toEqual({ kind: 'run', batchSize: 32, recompute: 'always', halved: true });
    expect(routeByMemory('heavy', 1000 * MB, 64, linear(40)(64), linear(40))).toEqual({
      kind: 'fail',
      reason: 'out of memory: needs an estimated 2560 MB > heavy budget 1000 MB, also at batch size 32',
    });
    // Batch size 1 has no half to try.
    expect(routeByMemory('heavy', 1000 * MB, 1, linear(2000)(1), linear(2000))).toMatchObject({ kind: 'fail' });
  });
});
