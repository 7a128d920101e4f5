/**
 * Writes pickles as the released datasets have them: Python 2 cPickle protocol 2 (CIFAR-10/100
 * python batches, ImageNet16 batches): str as SHORT_BINSTRING/BINSTRING, numpy arrays as
 * numpy.core.multiarray._reconstruct + BUILD (version 1, shape, dtype, fortran, raw bytes).
 */
const op = (c: string) => Buffer.from(c, 'latin1');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
function str2(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return b.length < 256 ? Buffer.concat([op('U'), Buffer.from([b.length]), b]) : Buffer.concat([op('T'), u32(b.length), b]);
}
function int(n: number): Buffer {
  if (n >= 0 && n < 256) return Buffer.concat([op('K'), Buffer.from([n])]);
  return Buffer.concat([op('J'), i32(n)]);
}
/** A numpy array as numpy 1.x pickles it: uint8 ('u1', byte order '|'), float32 ('f4') or int64 ('i8'), little-endian. */
function ndarray(data: Uint8Array, shape: number[], dtype: 'u1' | 'f4' | 'i8' = 'u1'): Buffer {
  return Buffer.concat([
    op('cnumpy.core.multiarray\n_reconstruct\n'),
    op('cnumpy\nndarray\n'),
    int(0),
    op('\x85'),
    str2('b'),
    op('\x87R'),
    op('('),
    int(1),
    op('('),
    ...shape.map(int),
    op('t'),
    op('cnumpy\ndtype\n'),
    str2(dtype),
    int(0),
    int(1),
    op('\x87R'),
    op('('),
    int(3),
    str2(dtype === 'u1' ? '|' : '<'),
    op('NNN'),
    op('J'),
    i32(-1),
    op('J'),
    i32(-1),
    int(0),
    op('tb'),
    op('\x89'),
    str2(Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
    op('tb'),
  ]);
}
const ndarrayU8 = (data: Uint8Array, shape: number[]) => ndarray(data, shape, 'u1');
export function imageBatchPickle(pixels: Uint8Array, rowBytes: number, labels: number[], labelKey = 'labels'): Buffer {
  return Buffer.concat([
    op('\x80\x02}('),
    str2('data'),
    ndarrayU8(pixels, [labels.length, rowBytes]),
    str2(labelKey),
    op(']('),
    ...labels.map(int),
    op('e'),
    str2('batch_label'),
    str2('training batch 1 of 5'),
    op('u.'),
  ]);
}

/**
 * NAS-Bench-360's Spherical CIFAR-100 (`s2_cifar100.gz`, before gzip): a dict with `train` and `test`,
 * each a dict of `images` (float32 [N, 3, 60, 60]) and `labels` (int64 [N]).
 */
export function sphericalPickle(images: Float32Array, labels: number[], test: { images: Float32Array; labels: number[] } = { images, labels }): Buffer {
  const split = (x: Float32Array, y: number[]) =>
    Buffer.concat([
      op('}('),
      str2('images'),
      ndarray(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), [y.length, 3, 60, 60], 'f4'),
      str2('labels'),
      ndarray(new Uint8Array(BigInt64Array.from(y.map(BigInt)).buffer), [y.length], 'i8'),
      op('u'),
    ]);
  return Buffer.concat([op('\x80\x02}('), str2('train'), split(images, labels), str2('test'), split(test.images, test.labels), op('u.')]);
}
