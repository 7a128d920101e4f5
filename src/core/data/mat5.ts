import { inflateSync } from 'zlib';
import { FormatError } from '../../errors';

/**
 * A reader of exactly what SVHN's `train_32x32.mat` holds: a MATLAB level-5 MAT-file (128-byte
 * header, little-endian "IM"), whose variables are numeric matrices, each usually in a
 * zlib-compressed element (miCOMPRESSED). Other element kinds (cells, structs, sparse, complex)
 * are refused naming the variable.
 */
export interface MatVariable {
  name: string;
  /** MATLAB class: 'uint8', 'double', ... */
  class: string;
  /** Dimensions in MATLAB order; data are column-major. */
  dims: number[];
  /** Values as stored, widened to numbers. */
  data: ArrayLike<number>;
}

const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15 } as const;
const CLASSES: Record<number, string> = { 6: 'double', 7: 'single', 8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32' };

export function readMat5(bytes: Uint8Array, file = 'mat'): Map<string, MatVariable> {
  if (bytes.length < 128) throw new FormatError(file, 'shorter than the 128-byte MAT-file header');
  const endian = String.fromCharCode(bytes[126]!, bytes[127]!);
  if (endian !== 'IM')
    throw new FormatError(
      file,
      endian === 'MI' ? 'big-endian MAT-files are not read' : 'not a MATLAB level-5 MAT-file (no IM/MI endian mark at byte 126; v7.3 files are HDF5)',
    );
  const out = new Map<string, MatVariable>();
  let pos = 128;
  while (pos + 8 <= bytes.length) {
    const { type, size, start, next } = tagAt(bytes, pos, file);
    let body = bytes.subarray(start, start + size);
    let bodyType = type;
    if (type === MI.COMPRESSED) {
      body = inflateSync(body);
      const inner = tagAt(body, 0, file);
      bodyType = inner.type;
      body = body.subarray(inner.start, inner.start + inner.size);
    }
    if (bodyType !== MI.MATRIX) throw new FormatError(file, `element at byte ${pos} of type ${bodyType} (only matrices are read)`);
    const v = readMatrix(body, file);
    out.set(v.name, v);
    pos = next;
  }
  return out;
}

function tagAt(b: Uint8Array, pos: number, file: string): { type: number; size: number; start: number; next: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (pos + 8 > b.length) throw new FormatError(file, `truncated element tag at byte ${pos}`);
  const first = dv.getUint32(pos, true);
  if (first >>> 16 !== 0) return { type: first & 0xffff, size: first >>> 16, start: pos + 4, next: pos + 8 }; // small data element
  const size = dv.getUint32(pos + 4, true);
  if (pos + 8 + size > b.length) throw new FormatError(file, `element at byte ${pos} of ${size} bytes runs past the end`);
  // Compressed elements are not padded; others pad to 8 bytes.
  const next = first === MI.COMPRESSED ? pos + 8 + size : pos + 8 + Math.ceil(size / 8) * 8;
  return { type: first, size, start: pos + 8, next };
}

function readMatrix(b: Uint8Array, file: string): MatVariable {
  const flags = tagAt(b, 0, file);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const cls = dv.getUint32(flags.start, true) & 0xff;
  const complex = (dv.getUint32(flags.start, true) & 0x800) !== 0;
  const dimsTag = tagAt(b, flags.next, file);
  const dims = Array.from({ length: dimsTag.size / 4 }, (_, i) => dv.getInt32(dimsTag.start + 4 * i, true));
  const nameTag = tagAt(b, dimsTag.next, file);
  const name = new TextDecoder('latin1').decode(b.subarray(nameTag.start, nameTag.start + nameTag.size));
  const className = CLASSES[cls];
  if (!className || complex)
    throw new FormatError(file, `variable ${name}: ${complex ? 'complex' : `class ${cls}`} matrices are not read (numeric real ones only)`);
  const real = tagAt(b, nameTag.next, file);
  const data = typedView(b.subarray(real.start, real.start + real.size), real.type, file, name);
  if (data.length !== dims.reduce((x, y) => x * y, 1)) throw new FormatError(file, `variable ${name}: ${data.length} values for dimensions ${dims.join('x')}`);
  return { name, class: className, dims, data };
}

function typedView(b: Uint8Array, type: number, file: string, name: string): ArrayLike<number> {
  // A copy at offset 0 (Buffer.slice would share the pooled ArrayBuffer): typed views need their own buffer.
  const copy = Uint8Array.prototype.slice.call(b);
  switch (type) {
    case MI.UINT8:
      return copy;
    case MI.INT8:
      return new Int8Array(copy.buffer);
    case MI.UINT16:
      return new Uint16Array(copy.buffer);
    case MI.INT16:
      return new Int16Array(copy.buffer);
    case MI.UINT32:
      return new Uint32Array(copy.buffer);
    case MI.INT32:
      return new Int32Array(copy.buffer);
    case MI.SINGLE:
      return new Float32Array(copy.buffer);
    case MI.DOUBLE:
      return new Float64Array(copy.buffer);
    default:
      throw new FormatError(file, `variable ${name}: data type ${type} is not read`);
  }
}
