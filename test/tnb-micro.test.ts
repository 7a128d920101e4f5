import { readFileSync } from 'fs';
import { join } from 'path';
import { initBackend, tf } from '../src/core/backend';
import { initialValues } from '../src/core/nn/init';
import type { NetworkDef } from '../src/core/nn/ops';
import { ShapeOps, traceShapes } from '../src/core/nn/shape';
import { TensorOps } from '../src/core/nn/tensor';
import { TASKONOMY_TASKS, type TaskName } from '../src/core/names';
import { Rng } from '../src/core/rng';
import { searchSpace } from '../src/core/spaces';
import { discriminatorParams, parseTnbMicro, tnbMicroString, transbench101Micro as micro, upsamplings } from '../src/core/spaces/transbench101_micro';
import { taskSpec, type TaskSpec } from '../src/core/tasks';

const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, 'fixtures', 'reference', name), 'utf8')) as Record<string, string>;
const archs = Object.values(fixture('archs_transbench101_micro.json'));
const archs9x = Object.values(fixture('archs_transbench101_micro9x.json'));

function outputShape(net: NetworkDef): number[] {
  return net.forward(new ShapeOps(), [1, ...net.inputShape]);
}

/** docs/search-spaces.md §4.4: stem 19,488 + per-edge cost over the 10 cells, by op and position. */
function encoderParams(arch: readonly number[]): number {
  const fromInput = [0, 173824, 685056, 6124544]; // positions 0, 1, 3 (edges leaving n0): zero, skip, conv1, conv3
  const inner = [0, 0, 857088, 7672832]; // positions 2, 4, 5
  return 19488 + arch.reduce((sum, op, pos) => sum + ([0, 1, 3].includes(pos) ? fromInput : inner)[op]!, 0);
}
const HEAD_PARAMS: Record<string, number> = {
  class_object: 51300,
  class_scene: 32319,
  room_layout: 4617,
  jigsaw: 4609000,
  segmentsemantic: 11024177,
  autoencoder: 22871859,
  normal: 22871859,
};

describe('TNB-micro worked examples (docs/search-spaces.md §4.4)', () => {
  const expected: Array<[TaskName, number, number]> = [
    ['class_scene', 0.910687, 263.299072],
    ['class_object', 0.929668, 263.318016],
    ['room_layout', 0.882985, 263.271424],
    ['jigsaw', 5.487368, 21.101056],
    ['segmentsemantic', 11.902545, 1198.81728],
    ['autoencoder', 23.750227, 1885.700096],
    ['normal', 23.750227, 1885.700096],
  ];
  test.each(expected)('(1, 0, 0, 2, 1, 0) = 64-41414-1_00_210 on %s: params %f M, flops %f M', (task, params, flops) => {
    const arch = parseTnbMicro('(1, 0, 0, 2, 1, 0)');
    expect(tnbMicroString(arch)).toBe('64-41414-1_00_210');
    const t = traceShapes(micro.network(arch, taskSpec(task)));
    expect(t.paramCount / 1e6).toBeCloseTo(params, 9);
    expect(t.flops / 1e6).toBeCloseTo(flops, 9);
  });
  test('(3, 3, 3, 3, 3, 3) on class_scene: 41.443935 / 8488.067072', () => {
    const t = traceShapes(micro.network(parseTnbMicro('(3, 3, 3, 3, 3, 3)'), taskSpec('class_scene')));
    expect(t.paramCount).toBe(41443935);
    expect(t.flops).toBe(8488067072);
  });
  test('zen Φ and outputs per task; u = 5; the discriminator is in 𝒫 only for autoencoder/normal', () => {
    const arch = parseTnbMicro('(1, 0, 0, 2, 1, 0)');
    expect(upsamplings(3)).toBe(5);
    const phi: Record<string, number[]> = {
      class_scene: [1, 8, 8, 512],
      jigsaw: [1, 2, 2, 9 * 512],
      segmentsemantic: [1, 256, 256, 32],
      autoencoder: [1, 256, 256, 16],
    };
    const out: Record<string, number[]> = { class_scene: [1, 63], jigsaw: [1, 1000], segmentsemantic: [1, 256, 256, 17], autoencoder: [1, 256, 256, 3] };
    for (const task of Object.keys(phi) as TaskName[]) {
      const net = micro.network(arch, taskSpec(task));
      expect(traceShapes(net).featureShape).toEqual(phi[task]);
      expect(outputShape(net)).toEqual(out[task]);
      expect((net.unusedParams ?? []).length).toBe(task === 'autoencoder' ? 14 : 0);
    }
    expect(micro.network(arch, taskSpec('jigsaw')).inputShape).toEqual([9, 64, 64, 3]);
    const disc = discriminatorParams().filter((p) => p.prunable);
    expect(disc.map((p) => p.shape)).toEqual([
      [5, 5, 6, 64],
      [5, 5, 64, 128],
      [5, 5, 128, 256],
      [3, 3, 256, 256],
      [3, 3, 256, 512],
      [3, 3, 512, 512],
      [3, 3, 512, 1],
    ]);
  });
  test('decoder convs and transposed convs use the PyTorch default init inside a TNB network', () => {
    const params = traceShapes(micro.network(parseTnbMicro('(1, 0, 0, 2, 1, 0)'), taskSpec('segmentsemantic'))).params;
    const encoderConvs = params.filter((p) => p.kind === 'conv' && p.name.startsWith('encoder.'));
    const decoderConvs = params.filter((p) => p.kind === 'conv' && p.name.startsWith('decoder.'));
    expect(encoderConvs.length).toBeGreaterThan(10);
    expect(encoderConvs.every((p) => p.init === undefined)).toBe(true);
    expect(decoderConvs.length).toBe(3);
    expect(decoderConvs.every((p) => p.init === 'torch')).toBe(true);
    expect(params.filter((p) => p.kind === 'conv_transpose').length).toBe(5);
    // He fan-out for the encoder: std √(2/(k²·C_out)); PyTorch default for the decoder: |w| ≤ 1/√fan_in.
    const rng = new Rng(3);
    const enc = encoderConvs.find((p) => p.shape[0] === 1 && p.fanOut === 512)!;
    const v = initialValues(enc, 'tnb', rng);
    const std = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / 512), 3);
    const dec = decoderConvs[0]!;
    const bound = 1 / Math.sqrt(dec.fanIn);
    const maxAbs = initialValues(dec, 'tnb', rng).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(maxAbs).toBeLessThanOrEqual(bound);
    expect(maxAbs).toBeGreaterThan(0.99 * bound);
  });
});

describe('TNB-micro architecture lists', () => {
  test('archs_transbench101_micro.json is the whole space: 4,096 cells, every one traces on all 7 Taskonomy tasks with the params of docs/search-spaces.md §4.4', () => {
    expect(archs.length).toBe(4096);
    expect(new Set(archs)).toEqual(new Set(micro.enumerate!()));
    expect(micro.size).toBe(4096);
    const base = traceShapes(micro.network(parseTnbMicro('(1, 0, 0, 2, 1, 0)'), taskSpec('class_scene'))).flops;
    for (const key of archs) {
      const arch = micro.parse(key);
      expect(micro.format(arch)).toBe(key);
      let sceneFlops = 0;
      for (const task of TASKONOMY_TASKS) {
        const t = traceShapes(micro.network(arch, taskSpec(task)));
        expect(t.paramCount).toBe(encoderParams(arch) + HEAD_PARAMS[task]!);
        if (task === 'class_scene') sceneFlops = t.flops;
        // Decoders do not depend on the cell: their flops are the worked example's, shifted by the encoder's.
        if (task === 'segmentsemantic') expect(t.flops - sceneFlops).toBe(1198817280 - base);
      }
    }
  });

  test.each([
    ['svhn', [1, 8, 8, 256], 10],
    ['ninapro', [1, 4, 13, 256], 18],
    ['scifar100', [1, 15, 15, 256], 100],
  ] as Array<[TaskName, number[], number]>)('the 192 cells of archs_transbench101_micro9x.json trace on %s (NASLib graph, 9x convention)', (task, phi, K) => {
    expect(archs9x.length).toBe(192);
    for (const key of archs9x) {
      const net = micro.network(micro.parse(key), taskSpec(task));
      const t = traceShapes(net);
      expect(t.featureShape).toEqual(phi);
      expect(outputShape(net)).toEqual([1, K]);
    }
  });

  test('the 9x convention: same key, different cell (source-major positions, 0 skip / 1 zero / 2 conv3 / 3 conv1)', () => {
    // Only n0→n1 is conv 3×3 (9x code 2) and n2→n3 conv 1×1 (code 3); everything else skip (0).
    const t = traceShapes(micro.network(parseTnbMicro('(2, 0, 0, 0, 0, 3)'), taskSpec('svhn')));
    const convs = t.params.filter((p) => p.kind === 'conv' && p.name.startsWith('modules.'));
    // Per cell: edge 0 (n0→n1) conv 3×3, edge 5 (n2→n3) conv 1×1; stride-2 cells add FR° (two 1×1 convs) on n0→n2, n0→n3.
    expect(convs.filter((p) => p.name.includes('.edges.0.') && p.shape[0] === 3).length).toBe(6);
    expect(convs.filter((p) => p.name.includes('.edges.5.') && p.shape[0] === 1).length).toBe(6);
    expect(convs.filter((p) => /\.edges\.[12]\.conv_[12]/.test(p.name)).length).toBe(2 * 2 * 2);
    // Stem 9·3·64 + 128 BN, fc 256·10 + 10; per cell conv 3×3 a→b, conv 1×1 b→b (+ BN γ, β), and in a
    // stride-2 cell two FR° edges of two 1×1 convs a→b/2 each (non-affine BN: no parameters).
    const stemAndHead = 9 * 3 * 64 + 128 + 2570;
    const cellParams = (a: number, b: number, stride: boolean) => 9 * a * b + 2 * b + b * b + 2 * b + (stride ? 2 * a * b : 0);
    expect(t.paramCount).toBe(
      stemAndHead + cellParams(64, 128, true) + 3 * cellParams(128, 128, false) + cellParams(128, 256, true) + cellParams(256, 256, false),
    );
  });
});

describe('TNB-micro encodings', () => {
  test.each(['(0, 2, 3, 2, 3, 4)', '(0, 2, 3, 2, 3)', '(0, 2, 3, 2, 3, 1, 1)', '[0, 2, 3, 2, 3, 1]', '64-41414-1_00_210'])(
    'rejects %s naming the value',
    (bad) => {
      expect(() => micro.parse(bad)).toThrow(/invalid arch/);
      expect(() => micro.parse(bad)).toThrow(JSON.stringify(bad));
    },
  );
  test('tasks outside the space are refused; the registry has the space', () => {
    expect(() => micro.network(parseTnbMicro('(1, 0, 0, 2, 1, 0)'), taskSpec('cifar10'))).toThrow(/invalid task: "cifar10"/);
    expect(searchSpace('transbench101_micro')).toBe(micro);
  });
});

describe('TNB-micro forward (TensorOps, cpu)', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  function run(net: NetworkDef, batch: number, seed: number): { out: tf.Tensor; phi: number[] } {
    const trace = traceShapes(net);
    const rng = new Rng(seed);
    const weights = new Map(trace.params.map((p) => [p.name, tf.tensor(initialValues(p, net.init, rng), p.shape)]));
    const x = tf.randomNormal([batch, ...net.inputShape]);
    const before = tf.memory().numTensors;
    let phi: number[] = [];
    const out = tf.tidy(() => {
      const ops = new TensorOps((name) => weights.get(name)!);
      const y = net.forward(ops, x);
      phi = ops.featureMap!.shape;
      return y;
    });
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, ...weights.values()]);
    return { out, phi };
  }
  test('ninapro (9x graph), batch 2: stride-2 cells with FR°, zero, 1×1 and 3×3 convs → [2, 18]', () => {
    const { out, phi } = run(micro.network(parseTnbMicro('(0, 3, 1, 0, 2, 3)'), taskSpec('ninapro')), 2, 5);
    expect(phi).toEqual([2, 4, 13, 256]);
    expect(out.shape).toEqual([2, 18]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
  });
  test('class_object on a 64×64 input (the network is size-generic), batch 2: TNB FR, zeros, He init → [2, 100]', () => {
    const task: TaskSpec = { ...taskSpec('class_object'), inputShape: [64, 64, 3] };
    const { out, phi } = run(micro.network(parseTnbMicro('(1, 0, 0, 2, 1, 0)'), task), 2, 6);
    expect(phi).toEqual([2, 2, 2, 512]);
    expect(out.shape).toEqual([2, 100]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
  });
});
