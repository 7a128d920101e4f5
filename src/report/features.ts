import { InputError } from '../errors';
import type { SpaceName } from '../core/names';

/**
 * Architecture features of the paper's bias analysis (Table 3), defined as in NASLib, branch
 * zerocost, plotting/BiasExperiments.ipynb (get_conv_over_pool_*, calculate_cell_size_201,
 * get_num_skip_*). "conv:pool" there is a difference, not a quotient: #conv ops − #pool ops
 * (a quotient would be undefined for the many cells without pooling). The fourth feature, the
 * number of parameters, is the `params` proxy of the same architecture (see analyses.ts).
 */

/** NB201 op indices (docs/search-spaces.md §1.1). */
export const NB201_OPS = ['skip_connect', 'none', 'nor_conv_3x3', 'nor_conv_1x1', 'avg_pool_3x3'] as const;
/** NB301 (DARTS) op indices (docs/search-spaces.md §3.1). */
export const NB301_OPS = ['max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5'] as const;

export const BIAS_FEATURES = ['conv_pool', 'cell_size', 'num_skip', 'params'] as const;
export type BiasFeature = (typeof BIAS_FEATURES)[number];

/** The spaces the paper's bias table covers. */
export const BIAS_SPACES: readonly SpaceName[] = ['nasbench201', 'nasbench301'];

type Nested = number | Nested[];

/** Parse a Python literal of nested tuples/lists of non-negative integers, e.g. "[[(0, 1), (1, 5)], ...]". */
function parseNested(text: string): Nested | undefined {
  let pos = 0;
  const skipSpace = () => {
    while (pos < text.length && (text.charCodeAt(pos) === 32 || text.charCodeAt(pos) === 9 || text.charCodeAt(pos) === 10 || text.charCodeAt(pos) === 13))
      pos++;
  };
  const value = (): Nested | undefined => {
    skipSpace();
    const ch = text[pos];
    if (ch === '(' || ch === '[') {
      const close = ch === '(' ? ')' : ']';
      pos++;
      const items: Nested[] = [];
      skipSpace();
      if (text[pos] === close) {
        pos++;
        return items;
      }
      for (;;) {
        const item = value();
        if (item === undefined) return undefined;
        items.push(item);
        skipSpace();
        if (text[pos] === ',') {
          pos++;
          skipSpace();
          if (text[pos] === close) {
            pos++;
            return items; // Python's trailing comma, e.g. "(3,)"
          }
          continue;
        }
        if (text[pos] === close) {
          pos++;
          return items;
        }
        return undefined;
      }
    }
    const start = pos;
    let n = 0;
    while (pos < text.length && text.charCodeAt(pos) >= 48 && text.charCodeAt(pos) <= 57) n = n * 10 + (text.charCodeAt(pos++) - 48);
    return pos > start ? n : undefined;
  };
  const result = value();
  skipSpace();
  return result !== undefined && pos === text.length ? result : undefined;
}

const NB201_EXPECTED = 'a tuple of 6 op indices 0-4, e.g. "(0, 2, 3, 2, 3, 1)"';
const NB301_EXPECTED = 'two cells of 8 (input, op) pairs, op 0-6, e.g. "[[(0, 0), (1, 5), ...], [...]]"';

/** The six op indices of an NB201 tuple string "(o0, …, o5)". */
export function parseNb201Arch(arch: string): number[] {
  const parsed = parseNested(arch);
  if (!Array.isArray(parsed) || parsed.length !== 6 || !parsed.every((o) => typeof o === 'number' && o < NB201_OPS.length)) {
    throw new InputError('nasbench201 arch', arch, NB201_EXPECTED);
  }
  return parsed as number[];
}

/** NB301 genotype as [normal, reduction], each 8 [input, op] pairs; accepts the list and the tuple form. */
export function parseNb301Arch(arch: string): [number, number][][] {
  const parsed = parseNested(arch);
  const isPair = (p: Nested): boolean => Array.isArray(p) && p.length === 2 && typeof p[0] === 'number' && typeof p[1] === 'number' && p[1] < NB301_OPS.length;
  if (!Array.isArray(parsed) || parsed.length !== 2 || !parsed.every((cell) => Array.isArray(cell) && cell.length === 8 && cell.every(isPair))) {
    throw new InputError('nasbench301 arch', arch, NB301_EXPECTED);
  }
  return parsed as [number, number][][];
}

function count<T>(items: readonly T[], pred: (item: T) => boolean): number {
  let n = 0;
  for (const item of items) if (pred(item)) n++;
  return n;
}

/** NB201: #conv (nor_conv_3x3, nor_conv_1x1) − #pool (avg_pool_3x3) over the 6 edges. */
export function convPoolNb201(ops: readonly number[]): number {
  return count(ops, (o) => o === 2 || o === 3) - count(ops, (o) => o === 4);
}

/** NB201: edges that are not `none` (the ops that exist in the cell). */
export function cellSizeNb201(ops: readonly number[]): number {
  return ops.length - count(ops, (o) => o === 1);
}

/** NB201: skip_connect edges. */
export function numSkipNb201(ops: readonly number[]): number {
  return count(ops, (o) => o === 0);
}

function nb301Ops(cells: readonly (readonly [number, number])[][]): number[] {
  return cells.flatMap((cell) => cell.map((pair) => pair[1]));
}

/** NB301: #conv (sep 3/5, dil 3/5) − #pool (max, avg) over both cells' 16 edges. */
export function convPoolNb301(cells: readonly (readonly [number, number])[][]): number {
  const ops = nb301Ops(cells);
  return count(ops, (o) => o > 2) - count(ops, (o) => o < 2);
}

/** NB301: skip_connect edges over both cells. */
export function numSkipNb301(cells: readonly (readonly [number, number])[][]): number {
  return count(nb301Ops(cells), (o) => o === 2);
}

/**
 * The arch-derived features of one architecture (params comes from the proxy rows, not from here).
 * Cell size is null for NB301: every DARTS cell has exactly 8 edges and no `none` op, so it is a
 * constant there (the paper's code defines it for NB201 and TNB-101-micro only).
 */
export function archFeatures(space: SpaceName, arch: string): { conv_pool: number; cell_size: number | null; num_skip: number } {
  if (space === 'nasbench201') {
    const ops = parseNb201Arch(arch);
    return { conv_pool: convPoolNb201(ops), cell_size: cellSizeNb201(ops), num_skip: numSkipNb201(ops) };
  }
  if (space === 'nasbench301') {
    const cells = parseNb301Arch(arch);
    return { conv_pool: convPoolNb301(cells), cell_size: null, num_skip: numSkipNb301(cells) };
  }
  throw new InputError('space', space, `the bias features are defined for ${BIAS_SPACES.join(', ')}`);
}
