import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { gzipSync } from 'zlib';
import { loadMinibatch } from '../src/core/data';
import { planMinibatch } from '../src/core/data/transform';
import { Rng } from '../src/core/rng';
import { TASK_SPECS } from '../src/core/tasks';
import { sphericalPickle } from './helpers/pickle';

/** NAS-Bench-360's Spherical CIFAR-100 release (s2_cifar100.gz), written in its real format by the test's pickle writer. */
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zc-data-spherical-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const n = 10;
const images = Float32Array.from({ length: n * 3 * 60 * 60 }, (_, i) => Math.cos(i) * 2.5);
const labels = Array.from({ length: n }, (_, i) => 95 - i);

test('s2_cifar100.gz: the train split, values as stored, NCHW → NHWC, as a file or in its directory', async () => {
  const d = join(dir, 'spherical');
  mkdirSync(d);
  const test = { images: new Float32Array(3 * 3 * 60 * 60).fill(7), labels: [1, 2, 3] };
  writeFileSync(join(d, 's2_cifar100.gz'), gzipSync(sphericalPickle(images, labels, test)));
  for (const path of [d, join(d, 's2_cifar100.gz')]) {
    const batch = await loadMinibatch({ source: 'path', path }, { task: 'scifar100', batchSize: 6, rng: new Rng(4).fork('data') });
    const plan = planMinibatch(TASK_SPECS.scifar100, n, 6, new Rng(4).fork('data'));
    expect(batch.inputShape).toEqual([6, 60, 60, 3]);
    for (let k = 0; k < 6; k++) {
      const i = plan.indices[k]!;
      for (const [y, x, c] of [
        [0, 0, 0],
        [5, 59, 2],
        [59, 7, 1],
        [30, 30, 0],
      ] as const) {
        expect(batch.inputs[((k * 60 + y) * 60 + x) * 3 + c]).toBe(images[((i * 3 + c) * 60 + y) * 60 + x]);
      }
    }
    expect(batch.target).toEqual({ kind: 'class', labels: Int32Array.from(plan.indices, (i) => 95 - i) });
  }
});

test('a damaged or foreign s2_cifar100.gz is refused naming the file and what is wrong', async () => {
  const notGzip = join(dir, 'plain.gz');
  writeFileSync(notGzip, 'not gzip');
  await expect(loadMinibatch({ source: 'path', path: notGzip }, { task: 'scifar100', batchSize: 2, rng: new Rng(1) })).rejects.toThrow(
    /plain\.gz.*not a gzip file/,
  );
  const badLabel = join(dir, 'bad-label.gz');
  writeFileSync(
    badLabel,
    gzipSync(
      sphericalPickle(
        images,
        labels.map((l, i) => (i === 3 ? 100 : l)),
      ),
    ),
  );
  await expect(loadMinibatch({ source: 'path', path: badLabel }, { task: 'scifar100', batchSize: 2, rng: new Rng(1) })).rejects.toThrow(
    /train\.labels\[3\] is 100, outside 0\.\.99/,
  );
});
