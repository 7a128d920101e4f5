import { FormatError } from '../../errors';

/**
 * A reader of exactly what the released dataset pickles contain (CIFAR-10/100 python batches,
 * downsampled-ImageNet16 batches, Spherical CIFAR-100): protocols 0–5's binary opcodes for dicts,
 * lists, tuples, ints, floats, strings and bytes, and numpy arrays as numpy pickles them
 * (`numpy.core.multiarray._reconstruct` + BUILD state). Any other class is refused by name: a
 * pickle is code, and this reader runs none of it.
 */
export interface NdArray {
  kind: 'ndarray';
  /** numpy dtype string, e.g. `|u1`, `<i8`, `<f4`. */
  dtype: string;
  shape: number[];
  fortran: boolean;
  /** The raw little-endian element bytes, row-major unless `fortran`. */
  data: Uint8Array;
}

export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleValue[] | PickleTuple | PickleDict | NdArray | PickleGlobal | Reduced;
export interface PickleTuple {
  kind: 'tuple';
  items: PickleValue[];
}
/** Keys as Python has them: str and bytes keys both become JS strings (CIFAR's py2 keys are bytes). */
export type PickleDict = { kind: 'dict'; map: Map<string | number, PickleValue> };
interface PickleGlobal {
  kind: 'global';
  name: string;
}
interface Reduced {
  kind: 'reduced';
  fn: string;
  args: PickleValue[];
}

const ALLOWED_GLOBALS = new Set([
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.ndarray',
  'numpy.dtype',
  '_codecs.encode',
]);

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Parses a pickle held in memory (the caller gunzips first where the file is gzipped). */
export function readPickle(bytes: Uint8Array, file = 'pickle'): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  const fail = (what: string): never => {
    throw new FormatError(file, `pickle byte ${pos}: ${what}`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`truncated (needs ${n} more bytes)`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => (need(8), (pos += 8), Number(view.getBigUint64(pos - 8, true)));
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) fail('no mark on the stack');
    const items = stack.splice(k) as PickleValue[];
    items.shift();
    return items;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const key = (k: PickleValue): string | number => {
    if (typeof k === 'string' || typeof k === 'number') return k;
    if (k instanceof Uint8Array) return new TextDecoder('latin1').decode(k);
    return fail(`dict key of type ${describe(k)} (only str, bytes and int keys are read)`);
  };
  const setItems = (d: PickleValue, kv: PickleValue[]) => {
    if (!isDict(d)) fail('SETITEMS on a non-dict');
    for (let i = 0; i + 1 < kv.length; i += 2) (d as PickleDict).map.set(key(kv[i]!), kv[i + 1]!);
  };
  const global = (name: string): PickleGlobal => {
    if (!ALLOWED_GLOBALS.has(name)) fail(`class ${name} is not one the dataset pickles contain (allowed: ${[...ALLOWED_GLOBALS].join(', ')})`);
    return { kind: 'global', name };
  };
  const utf8 = (b: Uint8Array) => new TextDecoder('utf-8').decode(b);

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        u64();
        break; // FRAME (framing only groups opcodes)
      case 0x2e:
        return pop(); // STOP
      case 0x28:
        stack.push(MARK);
        break;
      case 0x7d:
        stack.push({ kind: 'dict', map: new Map() });
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push({ kind: 'tuple', items: [] });
        break; // EMPTY_TUPLE
      case 0x64: {
        // DICT
        const d: PickleDict = { kind: 'dict', map: new Map() };
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x74:
        stack.push({ kind: 'tuple', items: popMark() });
        break; // TUPLE
      case 0x85:
        stack.push({ kind: 'tuple', items: [pop()] });
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push({ kind: 'tuple', items: [a, b] });
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push({ kind: 'tuple', items: [a, b, c] });
        break;
      } // TUPLE3
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      } // SETITEMS
      case 0x61: {
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND to a non-list');
        (l as PickleValue[]).push(v);
        break;
      }
      case 0x65: {
        const vs = popMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS to a non-list');
        (l as PickleValue[]).push(...vs);
        break;
      }
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x8a: {
        // LONG1: little-endian two's complement
        const b = take(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(Number.isSafeInteger(Number(v)) ? Number(v) : v);
        break;
      }
      case 0x47:
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break; // BINFLOAT (big-endian)
      case 0x55:
        stack.push(take(u8()));
        break; // SHORT_BINSTRING: py2 str, read as bytes
      case 0x54:
        stack.push(take(u32()));
        break; // BINSTRING
      case 0x43:
        stack.push(take(u8()));
        break; // SHORT_BINBYTES
      case 0x42:
        stack.push(take(u32()));
        break; // BINBYTES
      case 0x8e:
        stack.push(take(u64()));
        break; // BINBYTES8
      case 0x8c:
        stack.push(utf8(take(u8())));
        break; // SHORT_BINUNICODE
      case 0x58:
        stack.push(utf8(take(u32())));
        break; // BINUNICODE
      case 0x8d:
        stack.push(utf8(take(u64())));
        break; // BINUNICODE8
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo ${k} unset`);
        stack.push(memo.get(k)!);
        break;
      }
      case 0x63: {
        const mod = line();
        stack.push(global(`${mod}.${line()}`));
        break;
      } // GLOBAL
      case 0x93: {
        const name = pop();
        const mod = pop();
        stack.push(global(`${String(mod)}.${String(name)}`));
        break;
      } // STACK_GLOBAL
      case 0x52:
      case 0x81: {
        // REDUCE, NEWOBJ
        const args = pop();
        const fn = pop();
        if (!isGlobal(fn) || !isTuple(args)) fail('REDUCE/NEWOBJ of a non-class');
        stack.push(reduce((fn as PickleGlobal).name, (args as PickleTuple).items, fail));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        build(top(), state, fail);
        break;
      }
      default:
        fail(`opcode 0x${op.toString(16)} (${JSON.stringify(String.fromCharCode(op))}) is not one the dataset pickles use`);
    }
  }
}

function reduce(fn: string, args: PickleValue[], fail: (w: string) => never): PickleValue {
  if (fn === '_codecs.encode') {
    // Python 3 writes bytes at protocol 2 as _codecs.encode(text, 'latin1').
    const [text, enc] = args;
    if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) fail('_codecs.encode other than (str, latin1)');
    return Uint8Array.from(text as string, (ch) => ch.charCodeAt(0));
  }
  if (fn.endsWith('._reconstruct') || fn === 'numpy.ndarray') return { kind: 'ndarray', dtype: '', shape: [], fortran: false, data: new Uint8Array(0) };
  if (fn === 'numpy.dtype') {
    const code = text(args[0]);
    if (code === undefined) fail('numpy.dtype without a type code');
    return { kind: 'reduced', fn, args: [code as string] };
  }
  return fail(`call of ${fn}`);
}

function build(target: PickleValue, state: PickleValue, fail: (w: string) => never): void {
  if (isReduced(target) && target.fn === 'numpy.dtype') {
    // state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    const order = isTuple(state) ? text(state.items[1]) : undefined;
    target.args = [`${order ?? '|'}${String(target.args[0])}`];
    return;
  }
  if (target && typeof target === 'object' && 'kind' in target && target.kind === 'ndarray') {
    // state: (version, shape, dtype, is_fortran, raw bytes)
    if (!isTuple(state) || state.items.length !== 5) fail('ndarray state is not (version, shape, dtype, fortran, data)');
    const [, shape, dtype, fortran, data] = (state as PickleTuple).items;
    if (!isTuple(shape) || !shape.items.every((d) => typeof d === 'number')) fail('ndarray shape is not a tuple of ints');
    if (!isReduced(dtype)) fail('ndarray dtype is not a numpy.dtype');
    if (!(data instanceof Uint8Array)) fail('ndarray data is a list of objects (object arrays are not read)');
    let code = String((dtype as Reduced).args[0]);
    // numpy records '|' for one-byte types and '<'/'>' otherwise; '=' is native (little-endian here).
    code = code.replace(/^=/, '<');
    const a = target as NdArray;
    a.dtype = code;
    a.shape = (shape as PickleTuple).items as number[];
    a.fortran = fortran === true;
    a.data = data as Uint8Array;
    const elems = a.shape.reduce((x, y) => x * y, 1);
    const size = Number(/\d+$/.exec(code)?.[0] ?? 0);
    if (elems * size !== a.data.length) fail(`ndarray of shape ${JSON.stringify(a.shape)} and dtype ${code} needs ${elems * size} bytes, has ${a.data.length}`);
    return;
  }
  fail(`BUILD of ${describe(target)}`);
}

/** A Python 3 str or a Python 2 str (read as bytes), as text. */
function text(v: PickleValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder('latin1').decode(v);
  return undefined;
}

export function isDict(v: PickleValue | undefined): v is PickleDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && (v as { kind?: string }).kind === 'dict';
}
function isTuple(v: PickleValue | undefined): v is PickleTuple {
  return typeof v === 'object' && v !== null && (v as { kind?: string }).kind === 'tuple';
}
function isGlobal(v: PickleValue | undefined): v is PickleGlobal {
  return typeof v === 'object' && v !== null && (v as { kind?: string }).kind === 'global';
}
function isReduced(v: PickleValue | undefined): v is Reduced {
  return typeof v === 'object' && v !== null && (v as { kind?: string }).kind === 'reduced';
}
export function isNdArray(v: PickleValue | undefined): v is NdArray {
  return typeof v === 'object' && v !== null && (v as { kind?: string }).kind === 'ndarray';
}

export function describe(v: PickleValue | undefined): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return (v as { kind: string }).kind;
  return typeof v;
}

/** Integer values of a list or 1-D integer ndarray (labels). */
export function intsOf(v: PickleValue | undefined, file: string, field: string): Int32Array {
  if (Array.isArray(v)) {
    return Int32Array.from(v, (x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x)) throw new FormatError(file, `${field}[${i}] is ${describe(x)}, not an int`);
      return x;
    });
  }
  if (isNdArray(v) && /^[<|][iu][1248]$/.test(v.dtype)) {
    const n = v.shape.reduce((a, b) => a * b, 1);
    const size = Number(v.dtype.slice(2));
    const dv = new DataView(v.data.buffer, v.data.byteOffset, v.data.byteLength);
    const signed = v.dtype[1] === 'i';
    return Int32Array.from({ length: n }, (_, i) => {
      const o = i * size;
      if (size === 1) return signed ? dv.getInt8(o) : dv.getUint8(o);
      if (size === 2) return signed ? dv.getInt16(o, true) : dv.getUint16(o, true);
      if (size === 4) return signed ? dv.getInt32(o, true) : dv.getUint32(o, true);
      return Number(dv.getBigInt64(o, true));
    });
  }
  throw new FormatError(file, `${field} is ${describe(v)}${isNdArray(v) ? ` of dtype ${v.dtype}` : ''}, not a list or integer array of labels`);
}
