import { initBackend } from '../src/core/backend';
import { PROXIES } from '../src/core/names';
import { evaluateFixture, FIXTURE_CASES, withinTolerance } from './helpers/fixtures';

/**
 * The golden fixtures: NASLib's own measure code on stored weights, batch and zen draws
 * (test/fixtures/nb201/README.md). Every proxy must match within the tolerance the fixture states.
 */
describe.each(FIXTURE_CASES)('golden fixture %s', (name) => {
  let evaluated: ReturnType<typeof evaluateFixture>;
  beforeAll(async () => {
    await initBackend();
    evaluated = evaluateFixture(name, [...PROXIES]);
  });

  test.each([...PROXIES])('%s equals NASLib within tolerance', (proxy) => {
    const { fixture, values } = evaluated;
    const expected = fixture.proxies[proxy];
    const got = values[proxy]!.score;
    if (!withinTolerance(got, expected.value, expected.tolerance)) {
      throw new Error(`${name} ${proxy}: got ${got}, NASLib ${expected.value}, tolerance ${JSON.stringify(expected.tolerance)}`);
    }
    expect(Number.isFinite(got)).toBe(true);
  });
});
