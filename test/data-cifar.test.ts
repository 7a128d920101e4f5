import { createHash } from 'crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { loadMinibatch, planMinibatch } from '../src/core/data';
import { applyTrainingTransform, type AugmentDraw } from '../src/core/data/transform';
import { FormatError, InputError } from '../src/errors';
import { Rng } from '../src/core/rng';
import { TASK_SPECS, type TaskSpec } from '../src/core/tasks';
import { cifarRecords, gradientRecord } from './helpers/data';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zc-data-cifar-'));
  writeFileSync(join(dir, 'gradient.bin'), cifarRecords(Array.from({ length: 20 }, (_, r) => gradientRecord(r))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const at = (inputs: Float32Array, n: number, y: number, x: number, c: number) => inputs[((n * 32 + y) * 32 + x) * 3 + c]!;

describe('CIFAR-10 binary source', () => {
  // torchvision ToTensor + Normalize in float32, computed with NumPy:
  // (np.float32(b) / np.float32(255) - mean_f32) / std_f32 for CIFAR-10's statistics.
  const NUMPY_NORMALISED: Record<number, [number, number, number]> = {
    0: [-1.9892120361328125, -1.9802377223968506, -1.7070040702819824],
    1: [-1.9733372926712036, -1.9641317129135132, -1.6920126676559448],
    128: [0.04275204986333847, 0.0813295990228653, 0.21189674735069275],
    255: [2.0588412284851074, 2.1267905235290527, 2.1158058643341064],
  };

  test('pixel values equal torchvision/NumPy float32 results, zero padding where the crop leaves the image', async () => {
    // A flat-colour image: every output pixel is either the colour or the padding value, so the
    // exact values are known from NumPy, and the crop offsets tell which.
    const file = join(dir, 'flat.bin');
    writeFileSync(file, cifarRecords(Array.from({ length: 20 }, () => ({ labels: [3], pixel: (_y: number, _x: number, c: number) => [128, 1, 255][c]! }))));
    const rng = new Rng(11).fork('data');
    const batch = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 14, rng });
    const plan = planMinibatch(TASK_SPECS.cifar10, 20, 14, new Rng(11).fork('data'));
    expect(batch.inputShape).toEqual([14, 32, 32, 3]);
    expect(Array.from(batch.target.kind === 'class' ? batch.target.labels : [])).toEqual(new Array(14).fill(3));
    let padded = 0;
    for (let n = 0; n < 14; n++) {
      const d = plan.augment![n]!;
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const sx = (d.flip ? 31 - x : x) + d.left - 4;
          const sy = y + d.top - 4;
          const inside = sy >= 0 && sy < 32 && sx >= 0 && sx < 32;
          if (!inside) padded++;
          const colour = inside ? [NUMPY_NORMALISED[128]![0], NUMPY_NORMALISED[1]![1], NUMPY_NORMALISED[255]![2]] : NUMPY_NORMALISED[0]!;
          for (let c = 0; c < 3; c++) expect(at(batch.inputs, n, y, x, c)).toBe(colour[c]);
        }
      }
    }
    // Some crop in 14 samples leaves the image (P(all 14 centred) = 81^-14).
    expect(padded).toBeGreaterThan(0);
  });

  test('a seed whose draw is the centred crop without flip gives the plain normalised record', async () => {
    const file = join(dir, 'gradient.bin');
    // Find a seed whose first sample is drawn un-augmented (top = left = pad, no flip).
    let seed = 0;
    while (!isIdentity(planMinibatch(TASK_SPECS.cifar10, 20, 4, new Rng(seed).fork('data')).augment![0]!)) seed++;
    const plan = planMinibatch(TASK_SPECS.cifar10, 20, 4, new Rng(seed).fork('data'));
    const batch = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 4, rng: new Rng(seed).fork('data') });
    const r = plan.indices[0]!;
    const { mean, std } = TASK_SPECS.cifar10.normalize!;
    const f = Math.fround;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const bytes = [8 * x, 8 * y, 10 * r];
        for (let c = 0; c < 3; c++) expect(at(batch.inputs, 0, y, x, c)).toBe(f(f(f(bytes[c]! / 255) - f(mean[c]!)) / f(std[c]!)));
      }
    }
    expect(batch.target).toEqual({ kind: 'class', labels: Int32Array.from(plan.indices, (i) => i % 10) });
  });

  test('same seed: bit-identical batch and sha256; another seed: another batch; sha256 is the file digest', async () => {
    const file = join(dir, 'gradient.bin');
    const a = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 8, rng: new Rng(1).fork('data') });
    const b = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 8, rng: new Rng(1).fork('data') });
    const c = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 8, rng: new Rng(2).fork('data') });
    expect(Buffer.from(a.inputs.buffer).equals(Buffer.from(b.inputs.buffer))).toBe(true);
    expect(a.target).toEqual(b.target);
    expect(Buffer.from(a.inputs.buffer).equals(Buffer.from(c.inputs.buffer))).toBe(false);
    expect(a.sha256).toBe(sha256(readFileSync(file)));
    expect(c.sha256).toBe(a.sha256);
    expect(a.source).toBe(file);
  });

  test('augmentation statistics: flip about half, crop offsets 0..8 each, samples only from the first 70 %', async () => {
    const file = join(dir, 'gradient.bin');
    let flips = 0;
    const lefts = new Array(9).fill(0);
    const tops = new Array(9).fill(0);
    const records = new Map<number, number>();
    const seeds = 60;
    for (let seed = 0; seed < seeds; seed++) {
      const batch = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 14, rng: new Rng(seed).fork('data') });
      const { mean, std } = TASK_SPECS.cifar10.normalize!;
      const byte = (n: number, y: number, x: number, c: number) => Math.round((at(batch.inputs, n, y, x, c) * std[c]! + mean[c]!) * 255);
      const seen = new Set<number>();
      for (let n = 0; n < 14; n++) {
        // Row 16 and columns 10, 20 always lie inside the image (offsets move by at most 4).
        const a = byte(n, 16, 10, 0) / 8;
        const b = byte(n, 16, 20, 0) / 8;
        const flipped = a > b;
        if (flipped) flips++;
        lefts[flipped ? a - (31 - 10) + 4 : a - 10 + 4]++;
        tops[byte(n, 16, 10, 1) / 8 - 16 + 4]++;
        const r = byte(n, 16, 10, 2) / 10;
        seen.add(r);
        records.set(r, (records.get(r) ?? 0) + 1);
        expect(batch.target.kind === 'class' && batch.target.labels[n]).toBe(r % 10);
      }
      expect(seen.size).toBe(14); // a permutation: no sample twice in a batch
    }
    const total = seeds * 14;
    expect(Math.abs(flips - total / 2)).toBeLessThan(5 * Math.sqrt(total / 4));
    for (const counts of [lefts, tops]) for (const k of counts) expect(Math.abs(k - total / 9)).toBeLessThan(5 * Math.sqrt((total * 8) / 81));
    // 70 % of 20 records: indices 0..13, each in every batch of 14.
    expect([...records.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 14 }, (_, i) => i));
  });

  test('a directory of data_batch_*.bin is one training set in batch order; sha256 over the file digests', async () => {
    const d = join(dir, 'cifar-10-batches-bin');
    mkdirSync(d);
    const one = cifarRecords(Array.from({ length: 10 }, (_, r) => gradientRecord(r)));
    const two = cifarRecords(Array.from({ length: 10 }, (_, r) => gradientRecord(10 + r)));
    writeFileSync(join(d, 'data_batch_1.bin'), one);
    writeFileSync(join(d, 'data_batch_2.bin'), two);
    writeFileSync(join(d, 'test_batch.bin'), Buffer.alloc(5)); // not a training file: never read
    writeFileSync(join(d, 'batches.meta.txt'), 'airplane\n');
    const plan = planMinibatch(TASK_SPECS.cifar10, 20, 14, new Rng(3).fork('data'));
    const batch = await loadMinibatch({ source: 'path', path: d }, { task: 'cifar10', batchSize: 14, rng: new Rng(3).fork('data') });
    const { mean, std } = TASK_SPECS.cifar10.normalize!;
    for (let n = 0; n < 14; n++) {
      const r = Math.round((at(batch.inputs, n, 16, 16, 2) * std[2]! + mean[2]!) * 255) / 10;
      expect(r).toBe(plan.indices[n]);
    }
    expect(plan.indices.some((i) => i >= 10)).toBe(true); // the second file is used
    expect(batch.sha256).toBe(sha256(sha256(one) + sha256(two)));
  });

  test('a rewritten file is read again (no stale digest)', async () => {
    const file = join(dir, 'rewritten.bin');
    writeFileSync(file, cifarRecords(Array.from({ length: 20 }, (_, r) => gradientRecord(r))));
    const a = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 2, rng: new Rng(1) });
    const changed = cifarRecords(Array.from({ length: 20 }, (_, r) => gradientRecord(r + 1)));
    writeFileSync(file, changed);
    const b = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 2, rng: new Rng(1) });
    expect(b.sha256).toBe(sha256(changed));
    expect(b.sha256).not.toBe(a.sha256);
  });
});

describe('CIFAR-100 binary source', () => {
  test('2 label bytes, the fine label is the class; a directory with train.bin', async () => {
    const d = join(dir, 'cifar-100-binary');
    mkdirSync(d);
    const fine = (r: number) => (r * 7 + 3) % 100;
    const bytes = cifarRecords(
      Array.from({ length: 20 }, (_, r) => ({ labels: [r % 20, fine(r)], pixel: (_y: number, _x: number, c: number) => (c === 2 ? 10 * r : 50) })),
    );
    writeFileSync(join(d, 'train.bin'), bytes);
    writeFileSync(join(d, 'test.bin'), Buffer.alloc(3)); // not the training split
    const plan = planMinibatch(TASK_SPECS.cifar100, 20, 10, new Rng(4).fork('data'));
    const batch = await loadMinibatch({ source: 'path', path: d }, { task: 'cifar100', batchSize: 10, rng: new Rng(4).fork('data') });
    expect(batch.target).toEqual({ kind: 'class', labels: Int32Array.from(plan.indices, fine) });
    const { mean, std } = TASK_SPECS.cifar100.normalize!;
    for (let n = 0; n < 10; n++) expect(Math.round((at(batch.inputs, n, 16, 16, 2) * std[2]! + mean[2]!) * 255) + 0).toBe(10 * plan.indices[n]!);
    expect(batch.sha256).toBe(sha256(bytes));
  });
});

describe('crop and flip on a tiny image', () => {
  // 3 rows × 4 columns, one channel, values 1..12; pad 1, no normalisation.
  const spec: TaskSpec = { ...TASK_SPECS.cifar10, inputShape: [3, 4, 1], normalize: undefined, augment: { pad: 1, flip: true } };
  const image = Float32Array.from({ length: 12 }, (_, i) => i + 1);
  const run = (d: AugmentDraw) => Array.from(applyTrainingTransform(image, [1, 3, 4, 1], spec, [d]));

  test('crop at the top right of the padded image, then flip', () => {
    // padded rows 0..2, columns 2..5: [0 0 0 0 / 2 3 4 0 / 6 7 8 0], mirrored.
    expect(run({ top: 0, left: 2, flip: true })).toEqual([0, 0, 0, 0, 0, 4, 3, 2, 0, 8, 7, 6]);
  });
  test('crop at the bottom left, no flip', () => {
    expect(run({ top: 2, left: 0, flip: false })).toEqual([0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0]);
  });
  test('the centred crop without flip is the identity; with flip a mirror', () => {
    expect(run({ top: 1, left: 1, flip: false })).toEqual(Array.from(image));
    expect(run({ top: 1, left: 1, flip: true })).toEqual([4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]);
  });
});

describe('CIFAR errors', () => {
  test('a size that is not a multiple of the record size names the file and the record layout', async () => {
    const file = join(dir, 'short.bin');
    writeFileSync(file, Buffer.alloc(3073 * 2 + 5));
    const err = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 1, rng: new Rng(1) }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toBe(`${file}: size 6151 bytes is not a positive multiple of the CIFAR-10 record size 3073 (1 label byte + 3072 pixel bytes)`);
  });

  test('a CIFAR-100 file given for cifar10 is refused by its size', async () => {
    const file = join(dir, 'c100-as-c10.bin');
    writeFileSync(file, cifarRecords(Array.from({ length: 20 }, (_, r) => ({ labels: [r % 20, r], pixel: () => 0 }))));
    await expect(loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 1, rng: new Rng(1) })).rejects.toThrow(/record size 3073/);
  });

  test('a label outside the classes names the record and the value', async () => {
    const file = join(dir, 'badlabel.bin');
    writeFileSync(file, cifarRecords(Array.from({ length: 5 }, (_, r) => ({ labels: [r === 3 ? 10 : 1], pixel: () => 0 }))));
    const err = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 1, rng: new Rng(1) }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toBe(`${file}: label of record 3 is 10, outside 0..9 (cifar10 has 10 classes)`);
  });

  test('a missing path is an InputError on field data', async () => {
    const path = join(dir, 'nope', 'data_batch_1.bin');
    const err = await loadMinibatch({ source: 'path', path }, { task: 'cifar10', batchSize: 1, rng: new Rng(1) }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.field).toBe('data');
    expect(err.message).toMatch(new RegExp(`^invalid data: "${path}" \\(a file or directory: a CIFAR-10 binary file`));
  });

  test('a directory without training files says what it expected', async () => {
    const d = join(dir, 'empty');
    mkdirSync(d);
    await expect(loadMinibatch({ source: 'path', path: d }, { task: 'cifar100', batchSize: 1, rng: new Rng(1) })).rejects.toThrow(
      `invalid data: "${d}" (a directory with a CIFAR-100 binary file (train.bin), a directory containing train.bin, a cifar-100-python directory (train, python pickle), or`,
    );
  });

  test('a batch larger than 70 % of the training set is an InputError on batchSize', async () => {
    const file = join(dir, 'gradient.bin');
    const err = await loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 15, rng: new Rng(1) }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe(`invalid batchSize: 15 (at most 14: the batch comes from the first 70 % of the 20 training samples in ${file})`);
    await expect(loadMinibatch({ source: 'path', path: file }, { task: 'cifar10', batchSize: 0, rng: new Rng(1) })).rejects.toThrow(
      'invalid batchSize: 0 (a positive integer)',
    );
  });
});

function isIdentity(d: AugmentDraw): boolean {
  return d.top === 4 && d.left === 4 && !d.flip;
}
