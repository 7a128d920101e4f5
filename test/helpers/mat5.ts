import { deflateSync } from 'zlib';

/**
 * A MATLAB level-5 MAT-file as MATLAB and scipy.io.savemat(do_compression=True) write it: a
 * 128-byte header, then one miCOMPRESSED element per variable holding its miMATRIX element.
 */
const pad8 = (b: Buffer) => Buffer.concat([b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
function element(type: number, body: Buffer): Buffer {
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(type, 0);
  tag.writeUInt32LE(body.length, 4);
  return Buffer.concat([tag, pad8(body)]);
}
/** `cls`: MATLAB class (9 uint8, 6 double); `miType`: element type of the data (2 miUINT8, 9 miDOUBLE). */
export function matVariable(name: string, cls: number, dims: number[], miType: number, data: Buffer): Buffer {
  const flags = Buffer.alloc(8);
  flags.writeUInt32LE(cls, 0);
  const d = Buffer.alloc(4 * dims.length);
  dims.forEach((v, i) => d.writeInt32LE(v, 4 * i));
  const matrix = element(14, Buffer.concat([element(6, flags), element(5, d), element(1, Buffer.from(name, 'latin1')), element(miType, data)]));
  const z = deflateSync(matrix);
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(15, 0);
  tag.writeUInt32LE(z.length, 4);
  return Buffer.concat([tag, z]);
}
export function matFile(vars: Buffer[]): Buffer {
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, written by the zcbench tests', 0, 'latin1');
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'latin1');
  return Buffer.concat([header, ...vars]);
}
