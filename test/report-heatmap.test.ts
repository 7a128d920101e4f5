import { PNG } from 'pngjs';
import type { CorrelationMatrix } from '../src/report/analyses';
import { glyphMask, GLYPH_HEIGHT, GLYPH_WIDTH } from '../src/report/font';
import { cellText, divergingColor, MISSING_COLOR, renderHeatmapPng, renderHeatmapSvg } from '../src/report/heatmap';
import { expectedHeatmapGeometry } from './helpers/report-reference';

/** A 3 × 2 matrix with one undefined cell. */
const matrix: CorrelationMatrix = {
  title: 'Test map',
  rowLabels: ['snip', 'grad_norm', 'zen'],
  colLabels: ['NB201-CF10', 'NB301-CF10'],
  values: [
    [
      { value: 0.8123, n: 700 },
      { value: -0.55, n: 700 },
    ],
    [
      { value: NaN, n: 1 },
      { value: -1, n: 700 },
    ],
    [
      { value: 0, n: 700 },
      { value: 1, n: 700 },
    ],
  ],
};

describe('divergingColor', () => {
  it('runs from red through near-white to blue and greys out undefined values', () => {
    const [r1, , b1] = divergingColor(-1);
    const [r2, , b2] = divergingColor(1);
    expect(r1).toBeGreaterThan(b1);
    expect(b2).toBeGreaterThan(r2);
    expect(divergingColor(0)).toEqual([0xf7, 0xf7, 0xf7]);
    expect(divergingColor(NaN)).toEqual(MISSING_COLOR);
    expect(divergingColor(5)).toEqual(divergingColor(1));
  });
});

describe('cellText', () => {
  it('writes two decimals and never a negative zero', () => {
    expect(cellText(0.8123)).toBe('0.81');
    expect(cellText(-0.001)).toBe('0.00');
    expect(cellText(NaN)).toBe('n/a');
  });
});

describe('renderHeatmapPng', () => {
  const bytes = renderHeatmapPng(matrix);
  const png = PNG.sync.read(bytes);
  const pixel = (x: number, y: number) => {
    const o = (y * png.width + x) * 4;
    return [png.data[o], png.data[o + 1], png.data[o + 2]];
  };
  const g = expectedHeatmapGeometry(matrix);

  it('is a valid PNG of the documented size', () => {
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([png.width, png.height]).toEqual([g.width, g.height]);
  });

  it('colours every cell by its value', () => {
    matrix.values.forEach((row, i) =>
      row.forEach((c, j) => {
        const x = g.gridX + 68 * j;
        const y = g.gridY + 24 * i;
        expect(pixel(x + 1, y + 1)).toEqual(divergingColor(c.value));
        expect(pixel(x + 66, y + 22)).toEqual(divergingColor(c.value));
        expect(pixel(x + 67, y + 23)).toEqual([255, 255, 255]); // grid line
      }),
    );
  });

  it('draws the row labels in the bitmap font, right-aligned to the grid', () => {
    // First glyph of "snip" (S) of row 0 at scale 2, vertically centred in the row.
    const label = 'snip';
    const x0 = g.gridX - 8 - (label.length * 6 - 1) * 2;
    const y0 = g.gridY + 5;
    const mask = glyphMask('S');
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        const ink = pixel(x0 + 2 * gx, y0 + 2 * gy)[0]! < 128;
        expect(ink).toBe(mask[gy * GLYPH_WIDTH + gx] === 1);
      }
    }
  });

  it('is deterministic', () => {
    expect(renderHeatmapPng(matrix).equals(bytes)).toBe(true);
  });
});

describe('renderHeatmapSvg', () => {
  const svg = renderHeatmapSvg(matrix);
  const g = expectedHeatmapGeometry(matrix);

  it('has the PNG geometry and exact text labels', () => {
    expect(svg.startsWith(`<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}"`)).toBe(true);
    for (const label of [...matrix.rowLabels, ...matrix.colLabels]) expect(svg).toContain(`>${label}</text>`);
    expect(svg).toContain('<title>snip / NB201-CF10: 0.8123 (n=700)</title>');
    expect(svg).toContain('<title>grad_norm / NB201-CF10: n/a (n=1)</title>');
    expect(svg.match(/<rect x="\d+" y="\d+" width="67" height="23"/g)).toHaveLength(6);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  it('is deterministic', () => {
    expect(renderHeatmapSvg(matrix)).toBe(svg);
  });
});
