import { FormatError } from '../errors';

/** One tensor read from a safetensors file: row-major values in the stored (PyTorch) layout. */
export interface StoredTensor {
  dtype: 'F32' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/**
 * Read the safetensors format (8-byte little-endian header length, JSON header, raw data), the
 * format injected weights and inputs come in (e.g. NASLib-made golden fixtures).
 */
export function readSafetensors(bytes: Uint8Array, file = 'safetensors'): { tensors: Map<string, StoredTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new FormatError(file, 'shorter than the 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new FormatError(file, `header length ${headerLength} exceeds the file size ${bytes.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch {
    throw new FormatError(file, 'header is not JSON');
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (dtype !== 'F32' && dtype !== 'I32') throw new FormatError(file, `tensor ${name}: dtype ${dtype} (supported: F32, I32)`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (offsets[1] - offsets[0] !== count * 4 || dataStart + offsets[1] > bytes.length) {
      throw new FormatError(file, `tensor ${name}: data_offsets ${JSON.stringify(offsets)} do not fit shape ${JSON.stringify(shape)}`);
    }
    // Copy: the data section need not be 4-byte aligned in the caller's buffer.
    const raw = Uint8Array.prototype.slice.call(bytes, dataStart + offsets[0], dataStart + offsets[1]);
    const data = dtype === 'F32' ? new Float32Array(raw.buffer) : new Int32Array(raw.buffer);
    tensors.set(name, { dtype, shape, data });
  }
  return { tensors, metadata };
}

/** Write tensors in the safetensors format (header keys in the given order, data 8-byte aligned header). */
export function writeSafetensors(
  tensors: Record<string, { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
