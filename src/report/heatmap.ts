import { PNG } from 'pngjs';
import type { CorrelationMatrix } from './analyses';
import { drawText, textHeight, textWidth } from './font';

/**
 * Heatmaps of correlation matrices, as PNG (pngjs, labels in our bitmap font, upper-case) and
 * SVG (real text, exact names, a tooltip per cell with the full value and n). Both come from
 * one layout, so they have the same size and geometry. Cells are coloured by a diverging map
 * over [−1, 1] (ColorBrewer RdBu: red negative, white 0, blue positive) and annotated with the
 * value to 2 decimals, like the paper's figures; an undefined value is a grey "n/a" cell.
 * Output is a pure function of the matrix: same input, same bytes.
 *
 * Layout in pixels (text scale 2: glyphs 10×14, advance 12):
 * - margin 12 all round; title on the first line (14 high), then a 12 px gap;
 * - column labels written bottom-to-top above their column, 6 px above the grid; their area is
 *   as tall as the longest label (12·chars − 2);
 * - row labels right-aligned, 8 px left of the grid; their area is as wide as the longest label;
 * - cells 68 × 24 (a 1 px white line right and below each cell);
 * - colour bar 14 px below the grid, 12 high, LEGEND_WIDTH wide, labelled −1, 0, +1 below it
 *   (4 px gap, 14 high).
 */
export const TEXT_SCALE = 2;
export const MARGIN = 12;
export const CELL_WIDTH = 68;
export const CELL_HEIGHT = 24;
export const TITLE_GAP = 12;
export const COL_LABEL_GAP = 6;
export const ROW_LABEL_GAP = 8;
export const LEGEND_GAP = 14;
export const LEGEND_HEIGHT = 12;
export const LEGEND_WIDTH = 204;
export const LEGEND_LABEL_GAP = 4;

export type Rgb = [number, number, number];

/** ColorBrewer RdBu (11 classes), from −1 (dark red) to +1 (dark blue). */
const DIVERGING: Rgb[] = [
  [0x67, 0x00, 0x1f],
  [0xb2, 0x18, 0x2b],
  [0xd6, 0x60, 0x4d],
  [0xf4, 0xa5, 0x82],
  [0xfd, 0xdb, 0xc7],
  [0xf7, 0xf7, 0xf7],
  [0xd1, 0xe5, 0xf0],
  [0x92, 0xc5, 0xde],
  [0x43, 0x93, 0xc3],
  [0x21, 0x66, 0xac],
  [0x05, 0x30, 0x61],
];
export const MISSING_COLOR: Rgb = [0xd9, 0xd9, 0xd9];
const BACKGROUND: Rgb = [0xff, 0xff, 0xff];
const INK: Rgb = [0x1a, 0x1a, 0x1a];
const LIGHT_INK: Rgb = [0xff, 0xff, 0xff];

/** Colour of a correlation value: piecewise-linear over the RdBu anchors, clamped to [−1, 1]. */
export function divergingColor(value: number): Rgb {
  if (!Number.isFinite(value)) return MISSING_COLOR;
  const t = ((Math.max(-1, Math.min(1, value)) + 1) / 2) * (DIVERGING.length - 1);
  const i = Math.min(Math.floor(t), DIVERGING.length - 2);
  const f = t - i;
  const a = DIVERGING[i]!;
  const b = DIVERGING[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * f)) as Rgb;
}

/** Dark fills get white text. */
function inkOn(fill: Rgb): Rgb {
  const luminance = (0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]) / 255;
  return luminance < 0.5 ? LIGHT_INK : INK;
}

/** The cell annotation: 2 decimals, never "-0.00"; "n/a" when undefined. */
export function cellText(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const s = value.toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}

export interface HeatmapLayout {
  width: number;
  height: number;
  titleY: number;
  gridX: number;
  gridY: number;
  rowLabelWidth: number;
  colLabelHeight: number;
  legendX: number;
  legendY: number;
  legendLabelY: number;
}

const LEGEND_LABELS = ['-1', '0', '+1'] as const;

export function heatmapLayout(m: CorrelationMatrix): HeatmapLayout {
  const rowLabelWidth = Math.max(0, ...m.rowLabels.map((l) => textWidth(l, TEXT_SCALE)));
  const colLabelHeight = Math.max(0, ...m.colLabels.map((l) => textWidth(l, TEXT_SCALE)));
  const lineHeight = textHeight(TEXT_SCALE);
  const titleY = MARGIN;
  const gridX = MARGIN + rowLabelWidth + ROW_LABEL_GAP;
  const gridY = titleY + lineHeight + TITLE_GAP + colLabelHeight + COL_LABEL_GAP;
  const gridRight = gridX + m.colLabels.length * CELL_WIDTH;
  const gridBottom = gridY + m.rowLabels.length * CELL_HEIGHT;
  const legendX = gridX;
  const legendY = gridBottom + LEGEND_GAP;
  const legendLabelY = legendY + LEGEND_HEIGHT + LEGEND_LABEL_GAP;
  const width = Math.max(gridRight, legendX + LEGEND_WIDTH, MARGIN + textWidth(m.title, TEXT_SCALE)) + MARGIN;
  const height = legendLabelY + lineHeight + MARGIN;
  return { width, height, titleY, gridX, gridY, rowLabelWidth, colLabelHeight, legendX, legendY, legendLabelY };
}

/** Top-left corner of cell (row, col). */
export function cellOrigin(layout: HeatmapLayout, row: number, col: number): [number, number] {
  return [layout.gridX + col * CELL_WIDTH, layout.gridY + row * CELL_HEIGHT];
}

function legendLabelX(layout: HeatmapLayout, k: number, label: string): number {
  const w = textWidth(label, TEXT_SCALE);
  if (k === 0) return layout.legendX;
  if (k === 1) return layout.legendX + Math.floor((LEGEND_WIDTH - w) / 2);
  return layout.legendX + LEGEND_WIDTH - w;
}

/** The heatmap as PNG bytes (8-bit RGB). */
export function renderHeatmapPng(m: CorrelationMatrix): Buffer {
  const layout = heatmapLayout(m);
  // RGB pixels handed to pngjs as is (no RGBA conversion pass).
  const data = Buffer.alloc(layout.width * layout.height * 3);
  const setPixel = (x: number, y: number, c: Rgb) => {
    if (x < 0 || y < 0 || x >= layout.width || y >= layout.height) return;
    const o = (y * layout.width + x) * 3;
    data[o] = c[0];
    data[o + 1] = c[1];
    data[o + 2] = c[2];
  };
  const fillRect = (x: number, y: number, w: number, h: number, c: Rgb) => {
    for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) setPixel(xx, yy, c);
  };
  const text = (s: string, x: number, y: number, c: Rgb, vertical = false) => drawText(s, x, y, TEXT_SCALE, (px, py) => setPixel(px, py, c), vertical);
  const line = textHeight(TEXT_SCALE);

  fillRect(0, 0, layout.width, layout.height, BACKGROUND);
  text(m.title, MARGIN, layout.titleY, INK);
  m.colLabels.forEach((label, j) => {
    const x = layout.gridX + j * CELL_WIDTH + Math.floor((CELL_WIDTH - line) / 2);
    const y = layout.gridY - COL_LABEL_GAP - textWidth(label, TEXT_SCALE);
    text(label, x, y, INK, true);
  });
  m.rowLabels.forEach((label, i) => {
    const x = layout.gridX - ROW_LABEL_GAP - textWidth(label, TEXT_SCALE);
    const y = layout.gridY + i * CELL_HEIGHT + Math.floor((CELL_HEIGHT - line) / 2);
    text(label, x, y, INK);
  });
  m.values.forEach((row, i) =>
    row.forEach((c, j) => {
      const [x, y] = cellOrigin(layout, i, j);
      const fill = divergingColor(c.value);
      fillRect(x, y, CELL_WIDTH - 1, CELL_HEIGHT - 1, fill);
      const s = cellText(c.value);
      text(s, x + Math.floor((CELL_WIDTH - 1 - textWidth(s, TEXT_SCALE)) / 2), y + Math.floor((CELL_HEIGHT - 1 - line) / 2), inkOn(fill));
    }),
  );
  for (let k = 0; k < LEGEND_WIDTH; k++) {
    fillRect(layout.legendX + k, layout.legendY, 1, LEGEND_HEIGHT, divergingColor(-1 + (2 * k) / (LEGEND_WIDTH - 1)));
  }
  LEGEND_LABELS.forEach((label, k) => text(label, legendLabelX(layout, k, label), layout.legendLabelY, INK));
  const png = new PNG({ width: layout.width, height: layout.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = data;
  // Flat colour areas: no row filter plus zlib's default strategy gives the smallest files here
  // (pngjs' defaults, adaptive filters with run-length deflate, are 2× larger and much slower).
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false, filterType: 0, deflateStrategy: 0, deflateLevel: 9 });
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function hex(c: Rgb): string {
  return '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
}

/** The heatmap as an SVG document with text labels (same geometry as the PNG). */
export function renderHeatmapSvg(m: CorrelationMatrix): string {
  const layout = heatmapLayout(m);
  const line = textHeight(TEXT_SCALE);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="13">`,
    `<rect width="${layout.width}" height="${layout.height}" fill="${hex(BACKGROUND)}"/>`,
    `<text x="${MARGIN}" y="${layout.titleY + line}" font-size="15" font-weight="bold" fill="${hex(INK)}">${escapeXml(m.title)}</text>`,
  );
  m.colLabels.forEach((label, j) => {
    const x = layout.gridX + j * CELL_WIDTH + CELL_WIDTH / 2;
    const y = layout.gridY - COL_LABEL_GAP;
    out.push(`<text transform="translate(${x} ${y}) rotate(-90)" dominant-baseline="central" fill="${hex(INK)}">${escapeXml(label)}</text>`);
  });
  m.rowLabels.forEach((label, i) => {
    const y = layout.gridY + i * CELL_HEIGHT + CELL_HEIGHT / 2;
    out.push(`<text x="${layout.gridX - ROW_LABEL_GAP}" y="${y}" text-anchor="end" dominant-baseline="central" fill="${hex(INK)}">${escapeXml(label)}</text>`);
  });
  m.values.forEach((row, i) =>
    row.forEach((c, j) => {
      const [x, y] = cellOrigin(layout, i, j);
      const fill = divergingColor(c.value);
      const full = Number.isFinite(c.value) ? String(c.value) : 'n/a';
      out.push(
        `<g><title>${escapeXml(`${m.rowLabels[i]} / ${m.colLabels[j]}: ${full} (n=${c.n})`)}</title>` +
          `<rect x="${x}" y="${y}" width="${CELL_WIDTH - 1}" height="${CELL_HEIGHT - 1}" fill="${hex(fill)}"/>` +
          `<text x="${x + (CELL_WIDTH - 1) / 2}" y="${y + (CELL_HEIGHT - 1) / 2}" text-anchor="middle" dominant-baseline="central" fill="${hex(inkOn(fill))}">${cellText(c.value)}</text></g>`,
      );
    }),
  );
  const stops = DIVERGING.map((c, k) => `<stop offset="${((k / (DIVERGING.length - 1)) * 100).toFixed(1)}%" stop-color="${hex(c)}"/>`).join('');
  out.push(
    `<defs><linearGradient id="diverging" x1="0" x2="1" y1="0" y2="0">${stops}</linearGradient></defs>`,
    `<rect x="${layout.legendX}" y="${layout.legendY}" width="${LEGEND_WIDTH}" height="${LEGEND_HEIGHT}" fill="url(#diverging)"/>`,
  );
  LEGEND_LABELS.forEach((label, k) => {
    const anchor = ['start', 'middle', 'end'][k];
    const x = layout.legendX + [0, LEGEND_WIDTH / 2, LEGEND_WIDTH][k]!;
    out.push(
      `<text x="${x}" y="${layout.legendLabelY + line / 2}" text-anchor="${anchor}" dominant-baseline="central" fill="${hex(INK)}">${label === '-1' ? '\u22121' : label}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
