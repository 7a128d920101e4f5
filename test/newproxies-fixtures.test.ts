import { readFileSync } from 'fs';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import { evaluateProxies, type ProxyValue } from '../src/core/evaluate';
import { targetTensor } from '../src/core/loss';
import { NEWER_PROXIES, type BuiltInProxyName } from '../src/core/names';
import { azNasRankScores, type AzNasRow } from '../src/core/proxies';
import { FIXTURE_CASES, loadFixtureCase, readTensors, toTf, withinTolerance } from './helpers/fixtures';

/**
 * Golden values from the authors' own code for zico, meco, swap and az_nas on the four stored NB201
 * networks (test/fixtures/newproxies/README.md): the stored weights and minibatch of ../nb201, plus
 * the second minibatch, AZ-NAS's input and its Bernoulli signs, injected as the core's draws.
 */
const DIR = join(__dirname, 'fixtures', 'newproxies');
const NEW_PROXIES: BuiltInProxyName[] = [...NEWER_PROXIES];

interface Tolerance {
  rel?: number;
  abs?: number;
}
interface NewCase {
  proxies: Record<string, { value: number | string; tolerance: Tolerance }>;
  az_nas_g_out_shapes: Record<string, number[]>;
}

/** The json's numbers, ±∞ and NaN written as strings. */
function numberOf(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

function accepts(got: number, expected: number, tol: Tolerance): boolean {
  if (!Number.isFinite(expected)) return Object.is(got, expected) || (Number.isNaN(got) && Number.isNaN(expected));
  return withinTolerance(got, expected, tol);
}

/** Packed bits, least significant first, in NCHW order → ±1 in NHWC. */
function unpackSigns(words: Int32Array, nchw: number[]): tf.Tensor {
  const values = new Float32Array(nchw.reduce((a, b) => a * b, 1));
  for (let e = 0; e < values.length; e++) values[e] = (words[e >>> 5]! >>> (e & 31)) & 1 ? 1 : -1;
  return tf.tidy(() => tf.transpose(tf.tensor(values, nchw), [0, 2, 3, 1]));
}

function evaluateNewProxies(name: string): { expected: NewCase; values: Partial<Record<BuiltInProxyName, ProxyValue>> } {
  const expected = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as NewCase;
  const get = readTensors(join(DIR, `${name}.safetensors`), name);
  const base = loadFixtureCase(name);
  const x1 = toTf(get('zico.minibatch1.input'), 'image');
  const target1 = targetTensor({ kind: 'class', labels: Int32Array.from(get('zico.minibatch1.labels').data as Int32Array) }, base.task.outputs);
  const azInput = toTf(get('az_nas.input'), 'image');
  // The fixture's kaiming draws are the stored weights themselves (README: az_nas step 1).
  const azWeights = new Map(base.trace.params.filter((p) => p.prunable).map((p) => [p.name, base.weights.get(p.name)!]));
  const signs = (block: number, shape: number[]) => {
    const nchw = expected.az_nas_g_out_shapes[String(block)]!;
    expect([nchw[0], nchw[2], nchw[3], nchw[1]]).toEqual(shape);
    return unpackSigns(get(`az_nas.g_out.${block}`).data as Int32Array, nchw);
  };
  try {
    const values = evaluateProxies(
      {
        net: base.net,
        loss: base.task.loss,
        outputs: base.task.outputs,
        trace: base.trace,
        weights: base.weights,
        x: base.x,
        target: base.target,
        zenDraws: () => {
          throw new Error('zen is not requested');
        },
        azNasDraws: () => ({ weights: azWeights, input: azInput, signs }),
        secondMinibatch: { x: x1, target: target1 },
        buildSeconds: 0,
        dataSeconds: 0,
      },
      NEW_PROXIES,
    );
    return { expected, values };
  } finally {
    base.dispose();
    for (const t of [x1, target1.values, azInput]) t.dispose();
  }
}

const evaluated = new Map<string, ReturnType<typeof evaluateNewProxies>>();

beforeAll(async () => {
  await initBackend();
  for (const name of FIXTURE_CASES) evaluated.set(name, evaluateNewProxies(name));
});

describe.each(FIXTURE_CASES)('golden fixture %s', (name) => {
  test.each(NEW_PROXIES)("%s equals the authors' code within tolerance", (proxy) => {
    const { expected, values } = evaluated.get(name)!;
    const golden = expected.proxies[proxy]!;
    const got = values[proxy]!.raw;
    if (!accepts(got, numberOf(golden.value), golden.tolerance)) {
      throw new Error(`${name} ${proxy}: got ${got}, authors ${golden.value}, tolerance ${JSON.stringify(golden.tolerance)}`);
    }
  });
});

describe('az_nas combined score (population.json)', () => {
  const population = JSON.parse(readFileSync(join(DIR, 'population.json'), 'utf8')) as {
    population: string[];
    complexity: number[];
    parts: Record<string, Record<'expressivity' | 'progressivity' | 'trainability', number | string>>;
    az_nas: Record<string, number>;
    tolerance: Tolerance;
  };

  test("the authors' rank aggregation of the stored parts", () => {
    const rows: AzNasRow[] = population.population.map((name, i) => ({
      expressivity: numberOf(population.parts[name]!.expressivity),
      progressivity: numberOf(population.parts[name]!.progressivity),
      trainability: numberOf(population.parts[name]!.trainability),
      complexity: population.complexity[i]!,
    }));
    const scores = azNasRankScores(rows);
    population.population.forEach((name, i) => expect(withinTolerance(scores[i]!, population.az_nas[name]!, population.tolerance)).toBe(true));
  });

  test('the parts computed here rank the population as the authors do', () => {
    const rows: AzNasRow[] = population.population.map((name) => {
      const v = evaluated.get(name)!.values;
      return {
        expressivity: v['az_nas.expressivity']!.raw,
        progressivity: v['az_nas.progressivity']!.raw,
        trainability: v['az_nas.trainability']!.raw,
        complexity: v['az_nas.complexity']!.raw,
      };
    });
    const scores = azNasRankScores(rows);
    population.population.forEach((name, i) => expect(withinTolerance(scores[i]!, population.az_nas[name]!, population.tolerance)).toBe(true));
  });
});
