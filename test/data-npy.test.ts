import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { loadMinibatch, planMinibatch } from '../src/core/data';
import { decodeNpyValues, parseNpyHeader, type NpyHeader } from '../src/core/data/npy';
import { FormatError, InputError } from '../src/errors';
import type { TaskName } from '../src/core/names';
import { Rng } from '../src/core/rng';
import { TASK_SPECS } from '../src/core/tasks';

/**
 * This test's own .npy writer, header built by hand after numpy/lib/format.py: magic, version,
 * header length (uint16 in 1.0, uint32 in 2.0/3.0), the dict literal padded with spaces to a
 * multiple of 64 bytes and ended by '\n', then the raw bytes.
 */
function npy(descr: string, shape: number[], data: ArrayBufferView | Buffer, opts: { version?: 1 | 2 | 3; dict?: string } = {}): Buffer {
  const version = opts.version ?? 1;
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = opts.dict ?? `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  const pre = version === 1 ? 10 : 12;
  const padded = dict + ' '.repeat(63 - ((pre + dict.length) % 64)) + '\n';
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(padded.length, 8);
  else head.writeUInt32LE(padded.length, 8);
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, Buffer.from(padded, 'latin1'), body]);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const header = (b: Buffer) => parseNpyHeader('x.npy', b) as NpyHeader;
const load = (path: string, task: TaskName, batchSize: number, seed = 1) =>
  loadMinibatch({ source: 'path', path }, { task, batchSize, rng: new Rng(seed).fork('data') });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zc-data-npy-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('.npy format', () => {
  test('versions 1.0, 2.0, 3.0 and the common dtypes decode to the written values', () => {
    const cases: Array<[string, ArrayBufferView, number[]]> = [
      ['<f4', Float32Array.of(1.5, -2.25, 3e-8), [1.5, -2.25, Math.fround(3e-8)]],
      ['<f8', Float64Array.of(0.1, -1e300), [0.1, -1e300]],
      ['|u1', Uint8Array.of(0, 7, 255), [0, 7, 255]],
      ['<i8', BigInt64Array.of(-5n, 99n), [-5, 99]],
      ['<i4', Int32Array.of(-2147483648, 17), [-2147483648, 17]],
      ['<i2', Int16Array.of(-300), [-300]],
      ['<u2', Uint16Array.of(65535), [65535]],
      ['<f2', Uint16Array.of(0x3c00, 0xc000, 0x3555), [1, -2, 0.333251953125]],
    ];
    for (const version of [1, 2, 3] as const) {
      for (const [descr, data, expected] of cases) {
        const n = expected.length;
        const h = header(npy(descr, [n], data, { version }));
        expect(h).toMatchObject({ version: `${version}.0`, shape: [n], dtype: { descr } });
        expect(h.dataOffset % 64).toBe(0);
        const buf = npy(descr, [n], data, { version });
        const out = new Float64Array(n);
        decodeNpyValues(buf.subarray(h.dataOffset), h.dtype, n, out);
        expect(Array.from(out)).toEqual(expected);
      }
    }
  });

  test('big-endian data, key order, scalar and 1-tuple shapes, Python 2 long integers', () => {
    const be = Buffer.alloc(8);
    be.writeFloatBE(1.25, 0);
    be.writeFloatBE(-3, 4);
    const h = header(npy('>f4', [2], be));
    const out = new Float64Array(2);
    decodeNpyValues(be, h.dtype, 2, out);
    expect(Array.from(out)).toEqual([1.25, -3]);
    expect(header(npy('', [], Buffer.alloc(4), { dict: "{'shape': (2, 3), 'fortran_order': False, 'descr': '<i4'}" }))).toMatchObject({ shape: [2, 3] });
    expect(header(npy('<f4', [], Buffer.alloc(4))).shape).toEqual([]);
    expect(header(npy('', [], Buffer.alloc(0), { dict: "{'descr': '|u1', 'fortran_order': False, 'shape': (3L, 4L), }" })).shape).toEqual([3, 4]);
  });

  test('format errors name the file and what is wrong', () => {
    const bad = (b: Buffer) => () => parseNpyHeader('bad.npy', b);
    expect(bad(Buffer.from('PK\x03\x04 not numpy at all'))).toThrow(
      new FormatError('bad.npy', 'not a NumPy .npy file (the magic string \\x93NUMPY is missing)'),
    );
    const v4 = npy('<f4', [1], Buffer.alloc(4));
    v4[6] = 4;
    expect(bad(v4)).toThrow('bad.npy: unsupported .npy format version 4.0 (supported: 1.0, 2.0, 3.0)');
    expect(bad(npy('', [], Buffer.alloc(0), { dict: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }" }))).toThrow(
      'bad.npy: npy header field fortran_order is True; only C-order arrays are supported',
    );
    expect(bad(npy('', [], Buffer.alloc(0), { dict: "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }" }))).toThrow(
      'bad.npy: npy header field descr is missing, expected a simple dtype string',
    );
    expect(bad(npy('<c8', [1], Buffer.alloc(8)))).toThrow('bad.npy: unsupported npy dtype descr "<c8"');
    expect(bad(npy('', [], Buffer.alloc(0), { dict: "{'descr': '<f4', 'shape': (2,), }" }))).toThrow(
      'bad.npy: npy header field fortran_order is missing, expected True or False',
    );
    expect(bad(npy('', [], Buffer.alloc(0), { dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }" }))).toThrow(
      /bad.npy: malformed npy header at character \d+: expected a non-negative integer in the shape tuple/,
    );
  });
});

/** A directory with images.npy + labels.npy. */
function writePair(name: string, images: Buffer, labels: Buffer): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'images.npy'), images);
  writeFileSync(join(d, 'labels.npy'), labels);
  return d;
}

/** CIFAR-10 binary records for the same images (for the cross-check between sources). */
function cifarBinary(pixels: Uint8Array, labels: number[]): Buffer {
  const out = Buffer.alloc(labels.length * 3073);
  labels.forEach((l, r) => {
    out[r * 3073] = l;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[r * 3073 + 1 + c * 1024 + p] = pixels[r * 3072 + c * 1024 + p]!; // NCHW source
  });
  return out;
}

describe('.npy image sources', () => {
  const N = 20;
  const nchw = Uint8Array.from({ length: N * 3072 }, (_, i) => (i * 37 + (i >> 7)) % 256);
  const labels = Array.from({ length: N }, (_, r) => (r * 3) % 10);
  const nhwc = new Uint8Array(N * 3072);
  for (let n = 0; n < N; n++) for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) nhwc[n * 3072 + p * 3 + c] = nchw[n * 3072 + c * 1024 + p]!;

  beforeAll(() => {
    writeFileSync(join(dir, 'same.bin'), cifarBinary(nchw, labels));
    writePair('c10-nchw', npy('|u1', [N, 3, 32, 32], nchw), npy('<i8', [N], BigInt64Array.from(labels, BigInt)));
    writePair('c10-nhwc', npy('|u1', [N, 32, 32, 3], nhwc, { version: 2 }), npy('|u1', [N, 1], Uint8Array.from(labels)));
  });

  test('uint8 NCHW and NHWC .npy give the bit-identical batch the CIFAR binary gives', async () => {
    const bin = join(dir, 'same.bin');
    const a = join(dir, 'c10-nchw');
    const b = join(dir, 'c10-nhwc');
    const fromBin = await load(bin, 'cifar10', 14, 9);
    for (const d of [a, b]) {
      const fromNpy = await load(d, 'cifar10', 14, 9);
      expect(Buffer.from(fromNpy.inputs.buffer).equals(Buffer.from(fromBin.inputs.buffer))).toBe(true);
      expect(fromNpy.target).toEqual(fromBin.target);
      expect(fromNpy.sha256).toBe(sha256(sha256(readFileSync(join(d, 'images.npy'))) + sha256(readFileSync(join(d, 'labels.npy')))));
      expect(fromNpy.source).toBe(d);
    }
  });

  test('float images are used as stored (scifar100: no normalisation, no augmentation), NCHW → NHWC', async () => {
    const n = 10;
    const x = Float32Array.from({ length: n * 3 * 60 * 60 }, (_, i) => Math.sin(i) * 3);
    const d = writePair(
      'scifar',
      npy('<f4', [n, 3, 60, 60], x),
      npy(
        '<i4',
        [n],
        Int32Array.from({ length: n }, (_, i) => 90 + i),
      ),
    );
    const batch = await load(d, 'scifar100', 7, 2);
    const plan = planMinibatch(TASK_SPECS.scifar100, n, 7, new Rng(2).fork('data'));
    expect(plan.augment).toBeNull();
    expect(batch.inputShape).toEqual([7, 60, 60, 3]);
    for (let k = 0; k < 7; k++) {
      const i = plan.indices[k]!;
      for (const [y, xx, c] of [
        [0, 0, 0],
        [5, 59, 2],
        [59, 7, 1],
        [30, 30, 0],
      ] as const) {
        expect(batch.inputs[((k * 60 + y) * 60 + xx) * 3 + c]).toBe(x[((i * 3 + c) * 60 + y) * 60 + xx]);
      }
    }
    expect(batch.target).toEqual({ kind: 'class', labels: Int32Array.from(plan.indices, (i) => 90 + i) });
  });

  test('NinaPro as NAS-Bench-360 stores it: (N, 52, 16) swapped to 16×52×1, train + val concatenated', async () => {
    const d = join(dir, 'ninapro');
    mkdirSync(d);
    const train = Float64Array.from({ length: 6 * 52 * 16 }, (_, i) => i / 7);
    const val = Float64Array.from({ length: 9 * 52 * 16 }, (_, i) => -i / 3);
    const files: Record<string, Buffer> = {
      'ninapro_train.npy': npy('<f8', [6, 52, 16], train),
      'label_train.npy': npy(
        '<i8',
        [6],
        BigInt64Array.from({ length: 6 }, (_, i) => BigInt(i)),
      ),
      'ninapro_val.npy': npy('<f8', [9, 52, 16], val, { version: 3 }),
      'label_val.npy': npy(
        '<f8',
        [9],
        Float64Array.from({ length: 9 }, (_, i) => 9 + i),
      ), // float labels holding whole numbers
      'ninapro_test.npy': Buffer.from('never read'),
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(d, name), bytes);
    const batch = await load(d, 'ninapro', 10, 4);
    const plan = planMinibatch(TASK_SPECS.ninapro, 15, 10, new Rng(4).fork('data'));
    expect(batch.inputShape).toEqual([10, 16, 52, 1]);
    // 70 % of 6 + 9 = 15 samples: indices 0..9, so the first 4 of val are drawn too.
    expect([...plan.indices].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (let k = 0; k < 10; k++) {
      const i = plan.indices[k]!;
      const [src, j] = i < 6 ? [train, i] : [val, i - 6];
      for (let y = 0; y < 16; y++) for (let x = 0; x < 52; x++) expect(batch.inputs[(k * 16 + y) * 52 + x]).toBe(Math.fround(src[(j * 52 + x) * 16 + y]!));
    }
    expect(batch.target).toEqual({ kind: 'class', labels: Int32Array.from(plan.indices, (i) => (i < 6 ? i : 9 + i - 6)) });
    const used = ['label_train.npy', 'label_val.npy', 'ninapro_train.npy', 'ninapro_val.npy'];
    expect(batch.sha256).toBe(sha256(used.map((n) => sha256(files[n]!)).join('')));
  });

  test('an images file with its labels next to it, and an explicit "IMAGES.npy,LABELS.npy" pair', async () => {
    const d = join(dir, 'c10-nchw');
    const viaFile = await load(join(d, 'images.npy'), 'cifar10', 5);
    const viaDir = await load(d, 'cifar10', 5);
    const other = join(dir, 'elsewhere-labels.npy');
    writeFileSync(other, readFileSync(join(d, 'labels.npy')));
    const pair = `${join(d, 'images.npy')},${other}`;
    const viaPair = await load(pair, 'cifar10', 5);
    expect(Buffer.from(viaFile.inputs.buffer).equals(Buffer.from(viaDir.inputs.buffer))).toBe(true);
    expect(Buffer.from(viaPair.inputs.buffer).equals(Buffer.from(viaDir.inputs.buffer))).toBe(true);
    expect(viaPair.sha256).toBe(viaDir.sha256);
    expect(viaPair.source).toBe(pair);
  });

  test('errors: count mismatch, label out of range, fractional label, shape and dtype that do not fit, missing files', async () => {
    const img = npy('|u1', [4, 32, 32, 3], Buffer.alloc(4 * 3072));
    const cases: Array<[string, Buffer, Buffer, TaskName, string]> = [
      ['count', img, npy('<i8', [3], BigInt64Array.of(1n, 2n, 3n)), 'cifar10', 'labels.npy: labels count 3 does not match the 4 images in'],
      ['range', img, npy('<i4', [4], Int32Array.of(0, 1, 10, 2)), 'cifar10', 'labels.npy: label[2] = 10 is outside 0..9 (task cifar10 has 10 classes)'],
      ['negative', img, npy('<i4', [4], Int32Array.of(0, -1, 1, 2)), 'svhn', 'labels.npy: label[1] = -1 is outside 0..9 (task svhn has 10 classes)'],
      ['fraction', img, npy('<f4', [4], Float32Array.of(0, 1.5, 1, 2)), 'cifar10', 'labels.npy: label[1] = 1.5 is not a whole number'],
      ['labelshape', img, npy('<i4', [2, 2], Int32Array.of(0, 1, 1, 2)), 'cifar10', 'labels.npy: labels shape (2, 2) is not (N,) or (N, 1)'],
      [
        'shape',
        img,
        npy('<i4', [4], Int32Array.of(0, 1, 1, 2)),
        'ImageNet16-120',
        'images.npy: images shape (4, 32, 32, 3) does not fit task ImageNet16-120: expected (N, 16, 16, 3) NHWC, or (N, 3, 16, 16) NCHW',
      ],
      [
        'dtype',
        npy('<i4', [4, 32, 32, 3], Buffer.alloc(16 * 3072)),
        npy('<i4', [4], Int32Array.of(0, 1, 1, 2)),
        'cifar10',
        'images.npy: images dtype <i4 is not supported: expected uint8',
      ],
      [
        'truncated',
        img.subarray(0, img.length - 1),
        npy('<i4', [4], Int32Array.of(0, 1, 1, 2)),
        'cifar10',
        'images.npy: npy data is 12287 bytes, but shape (4, 32, 32, 3) of |u1 needs 12288',
      ],
      [
        'ninapro-unswapped',
        npy('<f4', [4, 16, 52], Buffer.alloc(4 * 4 * 832)),
        npy('<i4', [4], Int32Array.of(0, 1, 1, 2)),
        'ninapro',
        'images.npy: images shape (4, 16, 52) does not fit task ninapro: expected (N, 16, 52, 1) NHWC, or (N, 1, 16, 52) NCHW, or (N, 52, 16) as NAS-Bench-360 stores it',
      ],
    ];
    for (const [name, images, labelsNpy, task, message] of cases) {
      const d = writePair(`err-${name}`, images, labelsNpy);
      const err = await load(d, task, 1).catch((e) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message).toContain(message);
      expect(err.message.startsWith(join(d, message.split(':')[0]!))).toBe(true);
    }
    const lonely = join(dir, 'lonely.npy');
    writeFileSync(lonely, img);
    await expect(load(lonely, 'cifar10', 1)).rejects.toThrow(
      new InputError(
        'data',
        lonely,
        'an images .npy with its labels next to it (images.npy → labels.npy, ninapro_<split>.npy → label_<split>.npy), or a pair "IMAGES.npy,LABELS.npy"',
      ),
    );
    const half = `${join(dir, 'c10-nchw', 'images.npy')},${join(dir, 'missing.npy')}`;
    await expect(load(half, 'cifar10', 1)).rejects.toThrow(
      `invalid data: ${JSON.stringify(half)} (both files of the pair must exist; ${JSON.stringify(join(dir, 'missing.npy'))} does not)`,
    );
    const onlyVal = join(dir, 'ninapro-partial');
    mkdirSync(onlyVal);
    writeFileSync(join(onlyVal, 'ninapro_train.npy'), npy('<f4', [4, 52, 16], Buffer.alloc(4 * 4 * 832)));
    writeFileSync(join(onlyVal, 'label_train.npy'), npy('<i4', [4], Int32Array.of(0, 1, 1, 2)));
    writeFileSync(join(onlyVal, 'ninapro_val.npy'), npy('<f4', [4, 52, 16], Buffer.alloc(4 * 4 * 832)));
    await expect(load(onlyVal, 'ninapro', 1)).rejects.toThrow('ninapro_val.npy and label_val.npy together (NASLib trains on train + val), or neither');
    await expect(load(join(dir, 'c10-nchw'), 'class_object', 1)).rejects.toThrow(
      `invalid data: ${JSON.stringify(join(dir, 'c10-nchw'))} (a directory with a Taskonomy folder:`,
    );
  });
});

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('.npy files written by NumPy itself', () => {
  // Skipped (not failed) where python3 + numpy are not installed.
  (hasNumpy ? test : test.skip)('np.save / write_array 1.0, 2.0, 3.0: values equal NumPy-computed expectations (float32 arithmetic)', async () => {
    const d = join(dir, 'numpy');
    const script = `
import os, sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
for sub in ('svhn', 'scifar', 'ninapro'): os.makedirs(os.path.join(d, sub))
# svhn: uint8 NHWC images, int64 labels (np.save picks version 1.0)
img = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
np.save(os.path.join(d, 'svhn', 'images.npy'), img)
np.save(os.path.join(d, 'svhn', 'labels.npy'), rng.integers(0, 10, size=12).astype(np.int64))
mean = np.array([0.4377, 0.4438, 0.4728], np.float32); std = np.array([0.1980, 0.2010, 0.1970], np.float32)
(((img.astype(np.float32) / np.float32(255)) - mean) / std).astype('<f4').tofile(os.path.join(d, 'svhn', 'expected.f32'))
((np.zeros(3, np.float32) - mean) / std).astype('<f4').tofile(os.path.join(d, 'svhn', 'padding.f32'))
# scifar100: float64 NCHW in format 2.0, int32 labels
x = rng.standard_normal((10, 3, 60, 60))
with open(os.path.join(d, 'scifar', 'images.npy'), 'wb') as f: np.lib.format.write_array(f, x, version=(2, 0))
np.save(os.path.join(d, 'scifar', 'labels.npy'), np.arange(10, dtype=np.int32) * 9)
np.ascontiguousarray(np.transpose(x.astype(np.float32), (0, 2, 3, 1))).astype('<f4').tofile(os.path.join(d, 'scifar', 'expected.f32'))
# ninapro: float32 (N, 52, 16) in format 3.0; NASLib: transpose (0, 2, 1), channel axis → NHWC (N, 16, 52, 1)
e = rng.standard_normal((12, 52, 16)).astype(np.float32)
with open(os.path.join(d, 'ninapro', 'ninapro_train.npy'), 'wb') as f: np.lib.format.write_array(f, e, version=(3, 0))
np.save(os.path.join(d, 'ninapro', 'label_train.npy'), (np.arange(12) % 18).astype(np.int64))
np.ascontiguousarray(np.transpose(e, (0, 2, 1))[:, :, :, None]).astype('<f4').tofile(os.path.join(d, 'ninapro', 'expected.f32'))
`;
    const py = spawnSync('python3', ['-c', script, d], { encoding: 'utf8' });
    expect(py.stderr).toBe('');
    expect(py.status).toBe(0);
    const f32 = (p: string) => new Float32Array(new Uint8Array(readFileSync(p)).buffer);

    // svhn: augmented; every output pixel is NumPy's normalised source pixel or NumPy's padding value.
    const expected = f32(join(d, 'svhn', 'expected.f32'));
    const padding = f32(join(d, 'svhn', 'padding.f32'));
    const svhn = await load(join(d, 'svhn'), 'svhn', 8, 5);
    const plan = planMinibatch(TASK_SPECS.svhn, 12, 8, new Rng(5).fork('data'));
    for (let k = 0; k < 8; k++) {
      const i = plan.indices[k]!;
      const a = plan.augment![k]!;
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const sy = y + a.top - 4;
          const sx = (a.flip ? 31 - x : x) + a.left - 4;
          const inside = sy >= 0 && sy < 32 && sx >= 0 && sx < 32;
          for (let c = 0; c < 3; c++) {
            const want = inside ? expected[((i * 32 + sy) * 32 + sx) * 3 + c] : padding[c];
            if (svhn.inputs[((k * 32 + y) * 32 + x) * 3 + c] !== want)
              throw new Error(`svhn sample ${k} (${y}, ${x}, ${c}): ${svhn.inputs[((k * 32 + y) * 32 + x) * 3 + c]} != ${want}`);
          }
        }
      }
    }

    for (const [sub, task, n, B, per] of [
      ['scifar', 'scifar100', 10, 7, 60 * 60 * 3],
      ['ninapro', 'ninapro', 12, 8, 16 * 52],
    ] as const) {
      const want = f32(join(d, sub, 'expected.f32'));
      const batch = await load(join(d, sub), task, B, 6);
      const p = planMinibatch(TASK_SPECS[task], n, B, new Rng(6).fork('data'));
      for (let k = 0; k < B; k++) {
        const got = batch.inputs.subarray(k * per, (k + 1) * per);
        const ref = want.subarray(p.indices[k]! * per, (p.indices[k]! + 1) * per);
        expect(Buffer.from(got.slice().buffer).equals(Buffer.from(ref.slice().buffer))).toBe(true);
      }
    }
  });
});
