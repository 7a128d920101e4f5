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

/** Op names of the two conventions, in NB201's vocabulary. */
const TNB_OP_NAMES = ['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3'] as const;
const TNB_9X_OP_NAMES = ['skip_connect', 'none', 'nor_conv_3x3', 'nor_conv_1x1'] as const;
/** Tuple position → (source, destination) node, TNB convention (destination-major). */
export const TNB_MICRO_EDGES: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [0, 2],
  [1, 2],
  [0, 3],
  [1, 3],
  [2, 3],
];
/** Tuple position → (source, destination) node, NASLib graph convention of the 9x tasks (source-major). */
export const TNB_MICRO_9X_EDGES: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [0, 2],
  [0, 3],
  [1, 2],
  [1, 3],
  [2, 3],
];
/** The tasks whose cells follow NASLib's graph convention. */
export const TNB_MICRO_9X_TASKS: ReadonlySet<string> = new Set(['svhn', 'ninapro', 'scifar100']);

/** The cell in NB201's API layout, "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|", under the task's convention. */
export function tnbMicroReadable(arch: TnbMicroArch, task: string): string {
  const nineX = TNB_MICRO_9X_TASKS.has(task);
  const names = nineX ? TNB_9X_OP_NAMES : TNB_OP_NAMES;
  const positions = nineX ? TNB_MICRO_9X_EDGES : TNB_MICRO_EDGES;
  const nodes: string[] = [];
  for (let dst = 1; dst <= 3; dst++) {
    const parts: string[] = [];
    for (let src = 0; src < dst; src++) parts.push(`${names[arch[positions.findIndex(([a, b]) => a === src && b === dst)]!]}~${src}`);
    nodes.push(`|${parts.join('|')}|`);
  }
  return nodes.join('+');
}

/** All 4^6 = 4,096 cells, in itertools.product order. */
export function* enumerateTnbMicro(): Generator<string> {
  for (let i = 0; i < 4096; i++) {
    const ops: number[] = [];
    for (let p = 5, r = i; p >= 0; p--, r = Math.floor(r / 4)) ops[p] = r % 4;
    yield formatTnbMicro(ops);
  }
}
