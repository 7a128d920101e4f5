import { createHash } from 'crypto';
import { loadMinibatch } from '../src/core/data';
import { TASKS, type TaskName } from '../src/core/names';
import { Rng } from '../src/core/rng';
import { TASK_SPECS } from '../src/core/tasks';
import type { Minibatch } from '../src/core/types';

const B = 2;
const load = (task: TaskName, seed: number, batchSize = B) => loadMinibatch({ source: 'synthetic' }, { task, batchSize, rng: new Rng(seed).fork('data') });

function stats(values: ArrayLike<number>) {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    sq += v * v;
  }
  const mean = sum / values.length;
  return { min, max, mean, std: Math.sqrt(sq / values.length - mean * mean) };
}

/** Undo the task's normalisation: the synthetic pixels before it. */
function pixels(task: TaskName, inputs: Float32Array): Float64Array {
  const norm = TASK_SPECS[task].normalize;
  const C = TASK_SPECS[task].inputShape[2];
  return Float64Array.from(inputs, (v, i) => (norm ? v * norm.std[i % C]! + norm.mean[i % C]! : v));
}

function targetBytes(b: Minibatch): Buffer {
  const t = b.target;
  const a = t.kind === 'class' || t.kind === 'pixel_class' ? t.labels : t.kind === 'soft' ? t.probs : t.values;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('synthetic minibatches', () => {
  test.each([...TASKS])('%s: shapes, value ranges and target of the task', async (task) => {
    const spec = TASK_SPECS[task];
    const [H, W, C] = spec.inputShape;
    const b = await load(task, 7);
    expect(b.source).toBe('synthetic');
    expect(b.inputShape).toEqual(task === 'jigsaw' ? [B, 9, 64, 64, 3] : [B, H, W, C]);
    expect(b.inputs.length).toBe(b.inputShape.reduce((x, y) => x * y, 1));
    const s = stats(pixels(task, b.inputs));
    if (task === 'ninapro' || task === 'scifar100') {
      // Not pixels: standard normal.
      expect(s.min).toBeLessThan(-2);
      expect(Math.abs(s.mean)).toBeLessThan(0.1);
      expect(Math.abs(s.std - 1)).toBeLessThan(0.1);
    } else {
      // Uniform pixels in [0, 1] (before normalisation).
      expect(s.min).toBeGreaterThanOrEqual(-1e-6);
      expect(s.max).toBeLessThanOrEqual(1 + 1e-6);
      expect(Math.abs(s.mean - 0.5)).toBeLessThan(0.05);
      expect(Math.abs(s.std - Math.sqrt(1 / 12))).toBeLessThan(0.02);
    }
    const t = b.target;
    switch (task) {
      case 'class_object':
      case 'class_scene': {
        expect(t.kind).toBe('soft');
        if (t.kind !== 'soft') return;
        expect(t.classes).toBe(spec.outputs);
        expect(t.probs.length).toBe(B * spec.outputs);
        for (let n = 0; n < B; n++) {
          const row = t.probs.subarray(n * t.classes, (n + 1) * t.classes);
          expect(row.every((p) => p >= 0)).toBe(true);
          expect(row.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
        }
        break;
      }
      case 'room_layout':
        expect(t).toMatchObject({ kind: 'dense', shape: [B, 9] });
        expect(t.kind === 'dense' && t.values.length).toBe(B * 9);
        break;
      case 'segmentsemantic': {
        expect(t).toMatchObject({ kind: 'pixel_class', shape: [B, 256, 256] });
        if (t.kind !== 'pixel_class') return;
        expect(t.labels.length).toBe(B * 256 * 256);
        const seen = new Set(t.labels);
        expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 17 }, (_, i) => i));
        break;
      }
      case 'autoencoder':
        expect(t).toMatchObject({ kind: 'dense', shape: [B, 256, 256, 3] });
        expect(t.kind === 'dense' && Buffer.from(t.values.buffer).equals(Buffer.from(b.inputs.buffer))).toBe(true);
        expect(t.kind === 'dense' && t.values).not.toBe(b.inputs); // a copy: mutating one never changes the other
        break;
      case 'normal': {
        expect(t).toMatchObject({ kind: 'dense', shape: [B, 256, 256, 3] });
        const ts = stats(t.kind === 'dense' ? t.values : []);
        expect(ts.min).toBeGreaterThanOrEqual(0);
        expect(ts.max).toBeLessThanOrEqual(1);
        break;
      }
      default: {
        expect(t.kind).toBe('class');
        if (t.kind !== 'class') return;
        expect(t.labels.length).toBe(B);
        for (const l of t.labels) expect(l >= 0 && l < spec.outputs).toBe(true);
      }
    }
    // sha256 = sha256(input bytes ‖ target bytes)
    expect(b.sha256).toBe(createHash('sha256').update(Buffer.from(b.inputs.buffer)).update(targetBytes(b)).digest('hex'));
  });

  test('normalisation: the normalised value of each pixel, channel by channel (float32)', async () => {
    const b = await load('svhn', 3);
    const { mean, std } = TASK_SPECS.svhn.normalize!;
    const raw = pixels('svhn', b.inputs);
    for (let i = 0; i < 300; i++) {
      const c = i % 3;
      const u = Math.fround(raw[i]!); // the uniform draw, recovered up to float32 rounding
      expect(b.inputs[i]).toBeCloseTo((u - mean[c]!) / std[c]!, 5);
    }
  });

  test('same seed → bit-identical batch and sha256; different seed → different batch', async () => {
    for (const task of ['cifar10', 'jigsaw', 'class_scene', 'room_layout'] as TaskName[]) {
      const a = await load(task, 42, 1);
      const again = await load(task, 42, 1);
      const other = await load(task, 43, 1);
      expect(Buffer.from(a.inputs.buffer).equals(Buffer.from(again.inputs.buffer))).toBe(true);
      expect(targetBytes(a).equals(targetBytes(again))).toBe(true);
      expect(a.sha256).toBe(again.sha256);
      expect(Buffer.from(a.inputs.buffer).equals(Buffer.from(other.inputs.buffer))).toBe(false);
      expect(a.sha256).not.toBe(other.sha256);
    }
  });

  test('labels are uniform over the classes (chi-square, 120 classes)', async () => {
    const b = await load('ImageNet16-120', 5, 1200);
    const counts = new Array(120).fill(0);
    if (b.target.kind !== 'class') throw new Error('expected class labels');
    for (const l of b.target.labels) counts[l]++;
    const expected = 1200 / 120;
    const chi2 = counts.reduce((s, k) => s + (k - expected) ** 2 / expected, 0);
    // 119 degrees of freedom: mean 119, sd √238 ≈ 15.4.
    expect(chi2).toBeLessThan(119 + 6 * 15.4);
    expect(counts.every((k) => k > 0)).toBe(true);
  });
});
