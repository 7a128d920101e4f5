import type { FileHandle } from 'fs/promises';
import { FormatError } from '../../errors';

/**
 * Reader for NumPy's .npy format (numpy/lib/format.py): magic "\x93NUMPY", version byte pair,
 * header length (uint16 LE in version 1.0, uint32 LE in 2.0 and 3.0), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W, C), }` padded with spaces and '\n',
 * then the raw C-order data. Only simple (non-structured) numeric dtypes are supported.
 */

export interface NpyDtype {
  /** 'f' float, 'i' signed integer, 'u' unsigned integer, 'b' bool. */
  kind: 'f' | 'i' | 'u' | 'b';
  /** Bytes per element. */
  size: 1 | 2 | 4 | 8;
  littleEndian: boolean;
  /** As written in the header, e.g. '<f4'. */
  descr: string;
}

export interface NpyHeader {
  version: string;
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first data element. */
  dataOffset: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Decodes a dtype string such as '<f4', '|u1', '>i8' (byte order: < little, > big, | or = not applicable/native). */
export function parseDescr(file: string, descr: string): NpyDtype {
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  if (!m)
    throw new FormatError(
      file,
      `unsupported npy dtype descr ${JSON.stringify(descr)} (supported: floats <f2 <f4 <f8, integers |u1 |i1 <i2 <u2 <i4 <u4 <i8 <u8, |b1)`,
    );
  const kind = m[2] as NpyDtype['kind'];
  const size = Number(m[3]);
  const valid = kind === 'f' ? [2, 4, 8] : kind === 'b' ? [1] : [1, 2, 4, 8];
  if (!valid.includes(size))
    throw new FormatError(file, `unsupported npy dtype descr ${JSON.stringify(descr)} (${kind}${size} is not a numeric type this reader knows)`);
  // '=' means native order; every platform Node runs on here is little-endian.
  return { kind, size: size as NpyDtype['size'], littleEndian: m[1] !== '>', descr };
}

/**
 * Parses the header from the first bytes of a file. `head` must hold the whole header; if it
 * is too short the returned `needBytes` says how many bytes to read instead.
 */
export function parseNpyHeader(file: string, head: Uint8Array): NpyHeader | { needBytes: number } {
  if (head.length < 10 || MAGIC.some((b, i) => head[i] !== b)) {
    throw new FormatError(file, 'not a NumPy .npy file (the magic string \\x93NUMPY is missing)');
  }
  const major = head[6]!;
  const minor = head[7]!;
  if (major < 1 || major > 3 || minor !== 0) throw new FormatError(file, `unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (head.length < 8 + lenBytes) return { needBytes: 8 + lenBytes };
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = 8 + lenBytes + headerLen;
  if (head.length < dataOffset) return { needBytes: dataOffset };
  const raw = head.subarray(8 + lenBytes, dataOffset);
  // Version 3.0 headers are utf-8; 1.0 and 2.0 are latin-1 (numpy writes ASCII either way).
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(raw);
  const dict = parseHeaderDict(file, text);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string')
    throw new FormatError(
      file,
      `npy header field descr is ${describe(descr)}, expected a simple dtype string such as '<f4' (structured dtypes are not supported)`,
    );
  if (typeof fortran !== 'boolean') throw new FormatError(file, `npy header field fortran_order is ${describe(fortran)}, expected True or False`);
  if (fortran) throw new FormatError(file, 'npy header field fortran_order is True; only C-order arrays are supported (save with np.ascontiguousarray)');
  if (!Array.isArray(shape)) throw new FormatError(file, `npy header field shape is ${describe(shape)}, expected a tuple of integers`);
  return { version: `${major}.${minor}`, dtype: parseDescr(file, descr), shape, dataOffset };
}

type HeaderValue = string | boolean | number[] | undefined;

function describe(v: HeaderValue): string {
  return v === undefined ? 'missing' : JSON.stringify(v);
}

/** A tiny parser for the dict literal numpy writes: string keys; string, True/False or int-tuple values. */
function parseHeaderDict(file: string, text: string): Map<string, HeaderValue> {
  let i = 0;
  const fail = (what: string): never => {
    throw new FormatError(file, `malformed npy header at character ${i}: ${what} in ${JSON.stringify(text.trim())}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const str = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') fail('expected a quoted string');
    const end = text.indexOf(q!, i + 1);
    if (end < 0) fail('unterminated string');
    const s = text.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const value = (): HeaderValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (text.startsWith('True', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('False', i)) {
      i += 5;
      return false;
    }
    if (c === '(') {
      i++;
      const dims: number[] = [];
      for (;;) {
        ws();
        if (text[i] === ')') break;
        const m = /^\d+/.exec(text.slice(i));
        if (!m) fail('expected a non-negative integer in the shape tuple');
        dims.push(Number(m![0]));
        i += m![0].length;
        // Python 2 era files may write long integers as 5L.
        if (text[i] === 'L') i++;
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ')') fail("expected ',' or ')' in the shape tuple");
      }
      i++;
      return dims;
    }
    // Anything else (a list for structured dtypes, ...) is read past but not interpreted.
    let depth = 0;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '[' || ch === '(' || ch === '{') depth++;
      else if (ch === ']' || ch === ')' || ch === '}') {
        if (depth === 0) break;
        depth--;
      } else if (ch === ',' && depth === 0) break;
      i++;
    }
    return undefined;
  };
  const out = new Map<string, HeaderValue>();
  ws();
  if (text[i] !== '{') fail("expected '{'");
  i++;
  for (;;) {
    ws();
    if (text[i] === '}') break;
    const key = str();
    ws();
    if (text[i] !== ':') fail("expected ':'");
    i++;
    out.set(key, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail("expected ',' or '}'");
  }
  return out;
}

/** Reads and validates the header of an open .npy file, and checks the data size against the shape. */
export async function readNpyHeader(fh: FileHandle, file: string, fileSize: number): Promise<NpyHeader> {
  let want = Math.min(fileSize, 4096);
  for (;;) {
    const buf = new Uint8Array(want);
    const { bytesRead } = await fh.read(buf, 0, want, 0);
    const parsed = parseNpyHeader(file, buf.subarray(0, bytesRead));
    if ('needBytes' in parsed) {
      if (parsed.needBytes > fileSize) throw new FormatError(file, `truncated npy header: it needs ${parsed.needBytes} bytes, the file has ${fileSize}`);
      want = parsed.needBytes;
      continue;
    }
    const count = parsed.shape.reduce((a, b) => a * b, 1);
    const dataBytes = fileSize - parsed.dataOffset;
    if (dataBytes !== count * parsed.dtype.size) {
      throw new FormatError(
        file,
        `npy data is ${dataBytes} bytes, but shape (${parsed.shape.join(', ')}) of ${parsed.dtype.descr} needs ${count * parsed.dtype.size}`,
      );
    }
    return parsed;
  }
}

/** Converts `count` elements of raw npy data to numbers (float32-rounded for floats stored wider is the caller's choice). */
export function decodeNpyValues(bytes: Uint8Array, dtype: NpyDtype, count: number, out: Float32Array | Float64Array, outOffset = 0): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = dtype.littleEndian;
  const n = count;
  switch (`${dtype.kind}${dtype.size}`) {
    case 'f2':
      for (let k = 0; k < n; k++) out[outOffset + k] = halfToFloat(view.getUint16(2 * k, le));
      return;
    case 'f4':
      for (let k = 0; k < n; k++) out[outOffset + k] = view.getFloat32(4 * k, le);
      return;
    case 'f8':
      for (let k = 0; k < n; k++) out[outOffset + k] = view.getFloat64(8 * k, le);
      return;
    case 'u1':
    case 'b1':
      for (let k = 0; k < n; k++) out[outOffset + k] = bytes[k]!;
      return;
    case 'i1':
      for (let k = 0; k < n; k++) out[outOffset + k] = view.getInt8(k);
      return;
    case 'u2':
      for (let k = 0; k < n; k++) out[outOffset + k] = view.getUint16(2 * k, le);
      return;
    case 'i2':
      for (let k = 0; k < n; k++) out[outOffset + k] = view.getInt16(2 * k, le);
      return;
    case 'u4':
      for (let k = 0; k < n; k++) out[outOffset + k] = view.getUint32(4 * k, le);
      return;
    case 'i4':
      for (let k = 0; k < n; k++) out[outOffset + k] = view.getInt32(4 * k, le);
      return;
    case 'u8':
      for (let k = 0; k < n; k++) out[outOffset + k] = Number(view.getBigUint64(8 * k, le));
      return;
    case 'i8':
      for (let k = 0; k < n; k++) out[outOffset + k] = Number(view.getBigInt64(8 * k, le));
      return;
    default:
      throw new RangeError(`no decoder for dtype ${dtype.descr}`);
  }
}

/** IEEE 754 binary16 → number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
