import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { loadMinibatch } from '../src/core/data';
import { readMat5 } from '../src/core/data/mat5';
import { svhnSet } from '../src/core/data/svhn';
import { Rng } from '../src/core/rng';
import { FormatError } from '../src/errors';
import { matFile, matVariable } from './helpers/mat5';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'zc-data-svhn-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SVHN train_32x32.mat (MATLAB v5)', () => {
  test('X is read column-major as torchvision transposes it, label 10 is digit 0', async () => {
    const n = 10;
    // Sample i: pixel (row, col, c) = 7·c + i (column-major X[row, col, c, i]); y as doubles like the release.
    const X = Buffer.alloc(32 * 32 * 3 * n);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < 3; c++)
        for (let col = 0; col < 32; col++)
          for (let row = 0; row < 32; row++) X[row + 32 * col + 1024 * c + 3072 * i] = row === 0 && col === 1 ? 200 : 7 * c + i;
    const y = Buffer.alloc(8 * n);
    for (let i = 0; i < n; i++) y.writeDoubleLE(i === 0 ? 10 : i, 8 * i);
    const file = join(dir, 'train_32x32.mat');
    writeFileSync(file, matFile([matVariable('X', 9, [32, 32, 3, n], 2, X), matVariable('y', 6, [n, 1], 9, y)]));
    const batch = await loadMinibatch({ source: 'path', path: dir }, { task: 'svhn', batchSize: 7, rng: new Rng(2).fork('data') });
    const labels = Array.from((batch.target as { labels: Int32Array }).labels);
    expect(labels.every((l) => l >= 0 && l <= 6)).toBe(true);
    // The raw set: sample 3's pixel (row 0, col 1) is the marked one, every other pixel 7·c + 3, labels with 10 → 0.
    const bytes = readFileSync(file);
    const set = svhnSet({ path: file, sha256: 'x' }, bytes);
    expect(Array.from(set.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const out = new Float32Array(3072);
    await set.read([3], out);
    expect(Array.from(out.subarray(3, 6))).toEqual([200, 200, 200].map((v) => Math.fround(v / 255)));
    expect(Array.from(out.subarray(96, 99))).toEqual([3, 10, 17].map((v) => Math.fround(v / 255)));
    const vars = readMat5(bytes, file);
    expect(vars.get('X')!.dims).toEqual([32, 32, 3, n]);
    expect(Array.from(vars.get('y')!.data).slice(0, 3)).toEqual([10, 1, 2]);
  });

  test('a v7.3 (HDF5) or truncated file is refused with what was expected', () => {
    const hdf5 = Buffer.alloc(200);
    expect(() => readMat5(hdf5, 'x.mat')).toThrow(FormatError);
    expect(() => readMat5(hdf5, 'x.mat')).toThrow(/not a MATLAB level-5 MAT-file/);
    expect(() => readMat5(Buffer.alloc(10), 'x.mat')).toThrow(/128-byte/);
  });
});
