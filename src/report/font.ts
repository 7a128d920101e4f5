/**
 * A 5×7 bitmap font of our own for the PNG heatmaps (the PNG has no text engine; the SVG uses real
 * text). Upper-case letters, digits and the punctuation that proxy names, task labels and numbers
 * need; lower-case input is drawn upper-case, anything else as '?'.
 */

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** Horizontal distance between glyph origins: the glyph plus one blank column. */
export const GLYPH_ADVANCE = 6;

const GLYPHS: Record<string, string> = {
  A: '.###. #...# #...# ##### #...# #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '####. #...# #...# #...# #...# #...# ####.',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '##### ...#. ..#.. ...#. ....# #...# .###.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  '-': '..... ..... ..... .###. ..... ..... .....',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  ',': '..... ..... ..... ..... .##.. ..#.. .#...',
  _: '..... ..... ..... ..... ..... ..... #####',
  '/': '..... ....# ...#. ..#.. .#... #.... .....',
  ':': '..... .##.. .##.. ..... .##.. .##.. .....',
  '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  '@': '.###. #...# #.### #.#.# #.### #.... .###.',
  "'": '..#.. ..#.. .#... ..... ..... ..... .....',
  ' ': '..... ..... ..... ..... ..... ..... .....',
  '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
};

/** Pixel masks, row-major GLYPH_WIDTH × GLYPH_HEIGHT, 1 = ink. */
const MASKS = new Map<string, Uint8Array>(
  Object.entries(GLYPHS).map(([ch, art]) => {
    const rows = art.split(' ');
    if (rows.length !== GLYPH_HEIGHT || rows.some((r) => r.length !== GLYPH_WIDTH)) throw new Error(`font: bad glyph ${JSON.stringify(ch)}`);
    return [ch, Uint8Array.from(rows.join(''), (c) => (c === '#' ? 1 : 0))];
  }),
);

/** The ink mask of one character (upper-cased; unknown characters give '?'). */
export function glyphMask(ch: string): Uint8Array {
  return MASKS.get(ch.toUpperCase()) ?? MASKS.get(ch) ?? MASKS.get('?')!;
}

/** Width in pixels of `text` drawn at `scale` (no trailing blank column). */
export function textWidth(text: string, scale: number): number {
  return text.length === 0 ? 0 : (text.length * GLYPH_ADVANCE - 1) * scale;
}

/** Height in pixels of a line at `scale`. */
export function textHeight(scale: number): number {
  return GLYPH_HEIGHT * scale;
}

/**
 * Calls `plot(x, y)` for every ink pixel of `text` whose top-left corner is at (x, y).
 * `vertical`: rotated 90° counter-clockwise (reads bottom to top), (x, y) is then the top-left of
 * the rotated box, which is textHeight wide and textWidth tall.
 */
export function drawText(text: string, x: number, y: number, scale: number, plot: (px: number, py: number) => void, vertical = false): void {
  const total = textWidth(text, scale);
  for (let k = 0; k < text.length; k++) {
    const mask = glyphMask(text[k]!);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (!mask[gy * GLYPH_WIDTH + gx]) continue;
        // Horizontal position u along the text and v down the glyph, in pixels of the unrotated line.
        const u0 = (k * GLYPH_ADVANCE + gx) * scale;
        const v0 = gy * scale;
        for (let sy = 0; sy < scale; sy++) {
          for (let sx = 0; sx < scale; sx++) {
            const u = u0 + sx;
            const v = v0 + sy;
            if (vertical) plot(x + v, y + total - 1 - u);
            else plot(x + u, y + v);
          }
        }
      }
    }
  }
}
