import { InputError } from '../../../errors';

/**
 * A TNB-micro cell: six op indices 0–3. The same key means different cells in the two conventions
 * (docs/search-spaces.md §4.1, §6):
 * - Taskonomy tasks (TNB convention): positions destination-major (n0→n1, n0→n2, n1→n2, n0→n3,
 *   n1→n3, n2→n3); ops 0 zero, 1 skip, 2 conv 1×1, 3 conv 3×3.
 * - svhn / ninapro / scifar100 (NASLib graph, "9x"): positions source-major as NB201 (n0→n1, n0→n2,
 *   n0→n3, n1→n2, n1→n3, n2→n3); ops 0 skip, 1 zero, 2 conv 3×3, 3 conv 1×1.
 */
export type TnbMicroArch = readonly number[];

const EXPECTED = 'a NASLib tuple "(o0, o1, o2, o3, o4, o5)" of op indices 0–3';

export function parseTnbMicro(text: string, field = 'arch'): TnbMicroArch {
  const m = /^\(\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*\)$/.exec(text.trim());
  if (!m) throw new InputError(field, text, EXPECTED);
  const ops = m.slice(1).map(Number);
  const bad = ops.find((o) => o > 3);
  if (bad !== undefined) throw new InputError(field, text, `${EXPECTED}; unknown op index ${bad}`);
  return ops;
}

export function formatTnbMicro(arch: TnbMicroArch): string {
  return `(${arch.join(', ')})`;
}

/** TNB's model string for the Taskonomy convention: `64-41414-{o0}_{o1}{o2}_{o3}{o4}{o5}`. */
export function tnbMicroString(arch: TnbMicroArch): string {
  const [a, b, c, d, e, f] = arch;
  return `64-41414-${a}_${b}${c}_${d}${e}${f}`;
}

/** All 4^6 = 4,096 cells, in itertools.product order. */
export function* enumerateTnbMicro(): Generator<string> {
  for (let i = 0; i < 4096; i++) {
    const ops: number[] = [];
    for (let p = 5, r = i; p >= 0; p--, r = Math.floor(r / 4)) ops[p] = r % 4;
    yield formatTnbMicro(ops);
  }
}
