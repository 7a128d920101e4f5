import { readFileSync } from 'fs';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import type { NetworkDef } from '../src/core/nn/ops';
import { ShapeOps, traceShapes } from '../src/core/nn/shape';
import { SynflowOps } from '../src/core/nn/synflow';
import { TensorOps } from '../src/core/nn/tensor';
import { TASKONOMY_TASKS, type TaskName } from '../src/core/names';
import { Rng } from '../src/core/rng';
import { searchSpace } from '../src/core/spaces';
import { parseTnbMacro, tnbMacroString, transbench101Macro as macro } from '../src/core/spaces/transbench101_macro';
import { upsamplings } from '../src/core/spaces/transbench101_micro';
import { taskSpec, type TaskSpec } from '../src/core/tasks';

const archs = Object.values(
  JSON.parse(readFileSync(join(__dirname, 'fixtures', 'reference', 'archs_transbench101_macro.json'), 'utf8')) as Record<string, string>,
);

function outputShape(net: NetworkDef): number[] {
  return net.forward(new ShapeOps(), [1, ...net.inputShape]);
}

/** docs/search-spaces.md §5: stem 19,488; a block a→b costs 9ab+2b + 9b²+2b (+ ab+2b with a shortcut conv and BN). */
function encoderParams(codes: readonly number[]): { params: number; channels: number } {
  let a = 64;
  let params = 19488;
  for (const code of codes) {
    const b = code % 2 === 0 ? 2 * a : a;
    params += 9 * a * b + 2 * b + 9 * b * b + 2 * b + (code > 2 || a !== b ? a * b + 2 * b : 0);
    params += 2 * (9 * b * b + 2 * b);
    a = b;
  }
  return { params, channels: a };
}

describe('TNB-macro worked example (docs/search-spaces.md §5)', () => {
  const expected: Array<[TaskName, number, number]> = [
    ['class_scene', 11.218783, 13602.455552],
    ['jigsaw', 15.795464, 855.097856],
    ['segmentsemantic', 22.210641, 25113.985024],
    ['autoencoder', 34.058323, 37131.71456],
    ['normal', 34.058323, 37131.71456],
  ];
  test.each(expected)('(1, 2, 4, 2) = 64-1242-basic on %s: params %f M, flops %f M', (task, params, flops) => {
    const arch = parseTnbMacro('(1, 2, 4, 2)');
    expect(tnbMacroString(arch)).toBe('64-1242-basic');
    const t = traceShapes(macro.network(arch, taskSpec(task)));
    expect(t.paramCount / 1e6).toBeCloseTo(params, 9);
    expect(t.flops / 1e6).toBeCloseTo(flops, 9);
  });
  test('encoder 11,186,464, feature 32×32×512, u = 3; shortcut BNs have ε = 1 and momentum 1', () => {
    expect(encoderParams([1, 2, 4, 2]).params).toBe(11186464);
    const t = traceShapes(macro.network(parseTnbMacro('(1, 2, 4, 2)'), taskSpec('class_scene')));
    expect(t.featureShape).toEqual([1, 32, 32, 512]);
    expect([1, 2, 3, 4].map(upsamplings)).toEqual([3, 4, 5, 6]);
    const shortcuts = t.batchNorms.filter((b) => b.name.includes('downsample'));
    expect(shortcuts.map((b) => b.name)).toEqual(['encoder.layer1.0.downsample.1', 'encoder.layer2.0.downsample.1', 'encoder.layer3.0.downsample.1']);
    expect(shortcuts.every((b) => b.eps === 1 && b.momentum === 1 && b.affine)).toBe(true);
    expect(t.batchNorms.filter((b) => !b.name.includes('downsample')).every((b) => b.eps === undefined)).toBe(true);
  });
  test('the early table’s zero-padded key is the same skeleton', () => {
    expect(macro.format(parseTnbMacro('(1, 2, 4, 2, 0, 0)'))).toBe('(1, 2, 4, 2)');
  });
});

describe('TNB-macro architecture list', () => {
  test('archs_transbench101_macro.json is the whole space: 3,256 skeletons, every one traces on all 7 tasks', () => {
    expect(archs.length).toBe(3256);
    expect(new Set(archs)).toEqual(new Set(macro.enumerate!()));
    expect(macro.size).toBe(3256);
    for (const key of archs) {
      const arch = macro.parse(key);
      expect(macro.format(arch)).toBe(key);
      const { params, channels } = encoderParams(arch);
      const strides = arch.filter((c) => c > 2).length;
      const side = 64 / 2 ** strides;
      for (const task of TASKONOMY_TASKS) {
        const net = macro.network(arch, taskSpec(task));
        const t = traceShapes(net);
        switch (task) {
          case 'class_scene':
            expect(t.paramCount).toBe(params + 63 * channels + 63);
            expect(t.featureShape).toEqual([1, side, side, channels]);
            break;
          case 'jigsaw':
            expect(t.paramCount).toBe(params + 9000 * channels + 1000);
            expect(t.featureShape).toEqual([1, side / 4, side / 4, 9 * channels]);
            break;
          case 'segmentsemantic':
            // Whatever the number of stride layers, the decoder returns to 256×256.
            expect(outputShape(net)).toEqual([1, 256, 256, 17]);
            break;
          case 'autoencoder':
          case 'normal':
            expect(outputShape(net)).toEqual([1, 256, 256, 3]);
            expect(t.featureShape).toEqual([1, 256, 256, 16]);
            break;
          default:
            expect(outputShape(net)).toEqual([1, taskSpec(task).outputs]);
        }
      }
    }
  });
});

describe('TNB-macro encodings', () => {
  const bad: Array<[string, RegExp]> = [
    ['(1, 1, 1, 2)', /0 stride layers/],
    ['(2, 4, 2, 4)', /4 doubling layers/],
    ['(1, 2, 5, 2)', /code 5/],
    ['(0, 1, 2, 4, 2)', /code 0/],
    ['(1, 2, 4)', /3 layer codes/],
    ['(1, 2, 4, 2, 3, 3, 3)', /7 layer codes/],
    ['(1, 2, 4, 2', /invalid arch/],
    ['64-1242-basic', /invalid arch/],
  ];
  test.each(bad)('rejects %s naming the value', (text, why) => {
    expect(() => macro.parse(text)).toThrow(why);
    expect(() => macro.parse(text)).toThrow(JSON.stringify(text));
  });
  test('tasks outside the space are refused; the registry has the space', () => {
    expect(() => macro.network(parseTnbMacro('(1, 2, 4, 2)'), taskSpec('svhn'))).toThrow(/invalid task: "svhn"/);
    expect(searchSpace('transbench101_macro')).toBe(macro);
  });
});

describe('TNB-macro forward (TensorOps and SynflowOps, cpu, small inputs: the networks are size-generic)', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  // Cheapest skeleton (64→128 once, four stride layers): decoders with u = 6.
  const CHEAP = '(4, 3, 3, 3)';
  /**
   * The decoders hold 10–20 M parameters; drawing each from the seeded Rng takes ~30 s under jest
   * (its vm context slows JS hot loops ~20×). These shape tests copy one 2^20-value seeded draw
   * cyclically instead, scaled ±1/√fan_in; γ = 1, β = 0. (The init rules are tested in tnb-micro.)
   */
  let base: Float32Array;
  beforeAll(() => {
    base = new Rng('tnb-macro/weights').fillUniform(new Float32Array(1 << 20), -1, 1) as Float32Array;
  });
  function patternWeights(net: NetworkDef): Map<string, tf.Tensor> {
    return new Map(
      traceShapes(net).params.map((p, i) => {
        const n = p.shape.reduce((a, b) => a * b, 1);
        if (p.kind === 'bn_gamma') return [p.name, tf.ones(p.shape)];
        if (p.kind === 'bn_beta') return [p.name, tf.zeros(p.shape)];
        const values = new Float32Array(n);
        for (let done = 0, from = (i * 7919) % base.length; done < n; from = 0) {
          const chunk = base.subarray(from, Math.min(base.length, from + n - done));
          values.set(chunk, done);
          done += chunk.length;
        }
        return [p.name, tf.tidy(() => tf.mul(tf.tensor(values, p.shape), 1 / Math.sqrt(p.fanIn)))];
      }),
    );
  }
  const cases: Array<[TaskName, number[], number[], number[]]> = [
    ['autoencoder', [64, 64, 3], [2, 64, 64, 3], [2, 64, 64, 16]],
    ['segmentsemantic', [64, 64, 3], [2, 64, 64, 17], [2, 64, 64, 32]],
    ['jigsaw', [32, 32, 3], [2, 1000], [2, 1, 1, 9 * 128]],
  ];
  test.each(cases)('%s, batch 2 → output and Φ shapes, no leaked tensors', (name, input, out, phi) => {
    const task: TaskSpec = { ...taskSpec(name), inputShape: input as [number, number, number] };
    const net = macro.network(parseTnbMacro(CHEAP), task);
    const weights = patternWeights(net);
    const size = 2 * net.inputShape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(new Rng(`x/${name}`).fillNormal(new Float32Array(size)) as Float32Array, [2, ...net.inputShape]);
    const before = tf.memory().numTensors;
    const reluNames: string[] = [];
    const y = tf.tidy(() => {
      const ops = new TensorOps((n) => weights.get(n)!, { onReluInput: (n) => reluNames.push(n) });
      const r = net.forward(ops, x);
      expect(ops.featureMap!.shape).toEqual(phi);
      return r;
    });
    expect(y.shape).toEqual(out);
    const values = y.dataSync();
    expect(values.every(Number.isFinite)).toBe(true);
    if (name === 'autoencoder') expect(values.every((v) => Math.abs(v) <= 1)).toBe(true); // tanh
    // nwot sees the decoders' leaky ReLUs; jigsaw runs each encoder ReLU once per tile.
    if (name !== 'jigsaw') expect(reluNames.filter((n) => n.endsWith('.activation')).length).toBeGreaterThan(5);
    else expect(reluNames.filter((n) => n === 'encoder.stem.2.ops.0').length).toBe(9);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...weights.values()]);
  });

  test('synflow’s ops (|θ|, no BN, scaled tensors) run the segmentation model through its transposed convs', () => {
    const task: TaskSpec = { ...taskSpec('segmentsemantic'), inputShape: [64, 64, 3] };
    const net = macro.network(parseTnbMacro(CHEAP), task);
    const weights = patternWeights(net);
    const abs = new Map([...weights].map(([n, t]) => [n, tf.abs(t)]));
    const modules = traceShapes(net)
      .params.filter((p) => p.prunable)
      .map((p) => p.module);
    const probes = new Map(modules.map((m) => [m, tf.scalar(0)]));
    let logScale = NaN;
    const ones = tf.ones([1, ...net.inputShape]);
    const grads = tf.grads(() => {
      const o = net.forward(new SynflowOps((n) => abs.get(n)!, probes), { t: ones, logScale: 0 });
      logScale = o.logScale;
      return tf.sum(o.t);
    })(modules.map((m) => probes.get(m)!));
    // ~50 layers of |θ|: far beyond float32 without the scale exponent.
    expect(logScale).toBeGreaterThan(10);
    expect(Number.isFinite(logScale)).toBe(true);
    const sums = grads.map((g) => g.dataSync()[0]!);
    expect(sums.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    tf.dispose([...weights.values(), ...abs.values(), ...probes.values(), ...grads, ones]);
  });
});
