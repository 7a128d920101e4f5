import { mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { PNG } from 'pngjs';

/** Tiny Taskonomy folders in NASLib's layout, written by tests (no Taskonomy data can be downloaded here). */
export const TASKONOMY_FIXTURES = join(__dirname, '..', 'fixtures', 'naslib-taskonomy');

/** A 1-D float32 .npy, header by hand (numpy/lib/format.py, version 1.0). */
export function npyF4(values: Float32Array): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${values.length},), }`;
  const header = dict + ' '.repeat(63 - ((10 + dict.length) % 64)) + '\n';
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]);
}

export function png(width: number, height: number, colorType: 0 | 2 | 6, data: Uint8Array): Buffer {
  const p = new PNG({ width, height, colorType, inputColorType: colorType, inputHasAlpha: colorType === 6, bitDepth: 8 });
  p.data = Buffer.from(data);
  return PNG.sync.write(p, { colorType, inputColorType: colorType, inputHasAlpha: colorType === 6, bitDepth: 8 });
}

export const roomCases: Array<{ point_info: unknown; expected: number[] }> = JSON.parse(
  readFileSync(join(TASKONOMY_FIXTURES, 'room_layout_cases.json'), 'utf8'),
).cases;

export const VIEWS = 10;
export const W0 = 48;
export const H0 = 40;
export const viewName = (i: number) => `point_${i}_view_${i % 3}`;

/** A NASLib-style Taskonomy folder: split file, one building's view list, every domain. */
export function writeTaskonomy(root: string, building = 'bldA', withLists = true): void {
  const b = join(root, building);
  for (const d of ['rgb', 'class_object', 'class_scene', 'normal', 'segmentsemantic', 'point_info']) mkdirSync(join(b, d), { recursive: true });
  if (withLists) {
    writeFileSync(join(root, 'train_filenames_final5k.json'), JSON.stringify({ total_size: VIEWS, filename_list: [`${building}/image_list_final5k.json`] }));
    writeFileSync(
      join(b, 'image_list_final5k.json'),
      JSON.stringify(Array.from({ length: VIEWS }, (_, i) => `${building}/{domain}/${viewName(i)}_domain_{domain}.png`)),
    );
  }
  for (let i = 0; i < VIEWS; i++) {
    const file = (d: string, ext: string) => join(b, d, `${viewName(i)}_domain_${d}.${ext}`);
    const rgb = new Uint8Array(W0 * H0 * 3);
    for (let p = 0; p < W0 * H0; p++) {
      const x = p % W0;
      const y = Math.floor(p / W0);
      rgb[3 * p] = (x * 5 + i * 20) % 256;
      rgb[3 * p + 1] = (y * 6 + ((x * y) % 13)) % 256;
      rgb[3 * p + 2] = (x * y + i * 7) % 256;
    }
    writeFileSync(file('rgb', 'png'), png(W0, H0, 2, rgb));
    writeFileSync(
      file('normal', 'png'),
      png(
        W0,
        H0,
        2,
        rgb.map((v) => 255 - v),
      ),
    );
    // Raw values 0..17: NASLib maps 0 and 1 to class 0, v to v − 1.
    writeFileSync(
      file('segmentsemantic', 'png'),
      png(
        W0,
        H0,
        0,
        Uint8Array.from({ length: W0 * H0 }, (_, p) => (p + i) % 18),
      ),
    );
    writeFileSync(file('class_object', 'npy'), npyF4(Float32Array.from({ length: 1000 }, (_, k) => ((k * 7 + i) % 11) / 5000)));
    writeFileSync(file('class_scene', 'npy'), npyF4(Float32Array.from({ length: 365 }, (_, k) => ((k * 3 + i) % 5) / 900)));
    writeFileSync(file('point_info', 'json'), JSON.stringify(roomCases[i % roomCases.length]!.point_info));
  }
}
