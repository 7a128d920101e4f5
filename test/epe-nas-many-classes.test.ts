import { join } from 'path';
import { initBackend } from '../src/core/backend';
import { evaluateFixture, withinTolerance } from './helpers/fixtures';

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
  const { fixture, values } = evaluateFixture(name, ['epe_nas'], DIR);
  const got = values.epe_nas!.score;
  const expected = fixture.proxies.epe_nas;
  if (!withinTolerance(got, expected.value, expected.tolerance)) {
    throw new Error(`${name}: got ${got}, NASLib ${expected.value}, tolerance ${JSON.stringify(expected.tolerance)}`);
  }
  expect(expected.value).toBeGreaterThan(0);
});
