import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { loadMinibatch } from '../src/core/data';
import { readPickle } from '../src/core/data/pickle';
import { Rng } from '../src/core/rng';
import { FormatError } from '../src/errors';
import { cifarRecords, gradientRecord } from './helpers/data';
import { imageBatchPickle } from './helpers/pickle';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'zc-data-pickle-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The planar pixels and labels of CIFAR binary records (drop each record's label byte). */
function planar(records: Buffer, labelBytes: number): { pixels: Uint8Array; labels: number[] } {
  const n = records.length / (labelBytes + 3072);
  const pixels = new Uint8Array(n * 3072);
  const labels: number[] = [];
  for (let r = 0; r < n; r++) {
    labels.push(records[r * (labelBytes + 3072) + labelBytes - 1]!);
    pixels.set(records.subarray(r * (labelBytes + 3072) + labelBytes, (r + 1) * (labelBytes + 3072)), r * 3072);
  }
  return { pixels, labels };
}

describe('Python pickle batches', () => {
  test('CIFAR-10 python batches give the same minibatch as the same images in the binary version', async () => {
    const one = cifarRecords(Array.from({ length: 12 }, (_, r) => gradientRecord(r)));
    const two = cifarRecords(Array.from({ length: 8 }, (_, r) => gradientRecord(12 + r)));
    const bin = join(dir, 'bin');
    const py = join(dir, 'cifar-10-batches-py');
    mkdirSync(bin);
    mkdirSync(py);
    writeFileSync(join(bin, 'data_batch_1.bin'), one);
    writeFileSync(join(bin, 'data_batch_2.bin'), two);
    for (const [name, recs] of [
      ['data_batch_1', one],
      ['data_batch_2', two],
    ] as const) {
      const { pixels, labels } = planar(recs, 1);
      writeFileSync(join(py, name), imageBatchPickle(pixels, 3072, labels));
    }
    for (const seed of [0, 5]) {
      const a = await loadMinibatch({ source: 'path', path: bin }, { task: 'cifar10', batchSize: 6, rng: new Rng(seed).fork('data') });
      const b = await loadMinibatch({ source: 'path', path: py }, { task: 'cifar10', batchSize: 6, rng: new Rng(seed).fork('data') });
      expect(Array.from(b.inputs)).toEqual(Array.from(a.inputs));
      expect(b.target).toEqual(a.target);
    }
  });

  test('ImageNet16-120 batches: labels are 1-based and classes past 120 are dropped, as NASLib reads them', async () => {
    const d = join(dir, 'imagenet16');
    mkdirSync(d);
    const labels = [1, 121, 120, 500, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const pixels = Uint8Array.from({ length: labels.length * 768 }, (_, i) => Math.floor(i / 768) * 10);
    writeFileSync(join(d, 'train_data_batch_1'), imageBatchPickle(pixels, 768, labels));
    const batch = await loadMinibatch({ source: 'path', path: d }, { task: 'ImageNet16-120', batchSize: 8, rng: new Rng(1).fork('data') });
    const got = Array.from((batch.target as { labels: Int32Array }).labels);
    // 12 samples are kept (121 and 500 dropped); the batch draws from the first 70 % = 8 of them.
    const kept = [0, 119, 1, 2, 3, 4, 5, 6];
    expect(got.every((l) => kept.includes(l))).toBe(true);
    expect(new Set(got).size).toBe(8);
  });

  test('a pickle naming any other class is refused by name, and a truncated one says where', () => {
    const evil = Buffer.from('\x80\x02cos\nsystem\n(U\x02lstR.', 'latin1');
    expect(() => readPickle(evil, 'evil.pkl')).toThrow(FormatError);
    expect(() => readPickle(evil, 'evil.pkl')).toThrow(/class os.system/);
    expect(() => readPickle(Buffer.from('\x80\x02}(U\x04data', 'latin1'), 'short.pkl')).toThrow(/truncated/);
  });
});
