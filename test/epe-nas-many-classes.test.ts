import { join } from 'path';
import { initBackend } from '../src/core/backend';
import { evaluateProxies } from '../src/core/evaluate';
import { loadFixtureCase, withinTolerance } from './helpers/fixtures';

/**
 * epe_nas on ImageNet16-120 batches of 32 (120 classes: 4 with 2–3 rows, 23 singletons, 93 empty),
 * against NASLib's own epe_nas.py on the stored weights and batch
 * (test/fixtures/epe-many-classes/README.md, written by tools/epe-nas-many-classes.py).
 */
const DIR = join(__dirname, 'fixtures', 'epe-many-classes');
const CASES = ['ImageNet16-120_223032_b32', 'ImageNet16-120_403143_b32'];

beforeAll(async () => {
  await initBackend();
});

test.each(CASES)('%s: epe_nas equals NASLib within tolerance', (name) => {
  const { fixture, task, net, trace, weights, x, target, dispose } = loadFixtureCase(name, DIR);
  try {
    const values = evaluateProxies(
      {
        net,
        loss: task.loss,
        outputs: task.outputs,
        trace,
        weights,
        x,
        target,
        zenDraws: () => {
          throw new Error('epe_nas draws nothing');
        },
        buildSeconds: 0,
        dataSeconds: 0,
      },
      ['epe_nas'],
    );
    const got = values.epe_nas!.score;
    const expected = fixture.proxies.epe_nas;
    if (!withinTolerance(got, expected.value, expected.tolerance)) {
      throw new Error(`${name}: got ${got}, NASLib ${expected.value}, tolerance ${JSON.stringify(expected.tolerance)}`);
    }
    expect(expected.value).toBeGreaterThan(0);
  } finally {
    dispose();
  }
});
