import { InputError } from '../../../errors';

/**
 * A TNB-macro skeleton: 4–6 layer codes, 1 keep, 2 double channels, 3 stride 2, 4 both; 1–4 stride
 * layers and 1–3 doubling layers (3,256 skeletons). An early NASLib table padded keys with zeros to
 * six codes: trailing zeros are stripped.
 */
export type TnbMacroArch = readonly number[];

const EXPECTED =
  'a NASLib tuple of 4–6 layer codes "(1, 2, 4, 2)" (1 keep, 2 double channels, 3 stride 2, 4 both; ' +
  '1–4 stride layers, 1–3 doubling layers; trailing zero padding allowed)';

export const isStride = (code: number) => code > 2;
export const isDoubling = (code: number) => code % 2 === 0;

export function parseTnbMacro(text: string, field = 'arch'): TnbMacroArch {
  const m = /^\(\s*(\d\s*(?:,\s*\d\s*)*),?\s*\)$/.exec(text.trim());
  if (!m) throw new InputError(field, text, EXPECTED);
  const codes = m[1]!.split(',').map((c) => Number(c.trim()));
  while (codes.length > 0 && codes[codes.length - 1] === 0) codes.pop();
  if (codes.length < 4 || codes.length > 6) throw new InputError(field, text, `${EXPECTED}; ${codes.length} layer codes`);
  const bad = codes.find((c) => c < 1 || c > 4);
  if (bad !== undefined) throw new InputError(field, text, `${EXPECTED}; code ${bad}`);
  const strides = codes.filter(isStride).length;
  const doublings = codes.filter(isDoubling).length;
  if (strides < 1 || strides > 4) throw new InputError(field, text, `${EXPECTED}; ${strides} stride layers`);
  if (doublings < 1 || doublings > 3) throw new InputError(field, text, `${EXPECTED}; ${doublings} doubling layers`);
  return codes;
}

export function formatTnbMacro(arch: TnbMacroArch): string {
  return `(${arch.join(', ')})`;
}

/** TNB's model string: `64-{codes}-basic`. */
export function tnbMacroString(arch: TnbMacroArch): string {
  return `64-${arch.join('')}-basic`;
}

/** All 3,256 skeletons: lengths 4, 5, 6, each in lexicographic order. */
export function* enumerateTnbMacro(): Generator<string> {
  for (let len = 4; len <= 6; len++) {
    for (let i = 0; i < 4 ** len; i++) {
      const codes: number[] = [];
      for (let p = len - 1, r = i; p >= 0; p--, r = Math.floor(r / 4)) codes[p] = (r % 4) + 1;
      const strides = codes.filter(isStride).length;
      const doublings = codes.filter(isDoubling).length;
      if (strides >= 1 && strides <= 4 && doublings >= 1 && doublings <= 3) yield formatTnbMacro(codes);
    }
  }
}
