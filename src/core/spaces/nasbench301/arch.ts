import { InputError } from '../../../errors';

/** NB301 (DARTS) op indices as NASLib encodes them. */
export const NB301_OPS = ['max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5'] as const;

/** One edge: (input, op). Input 0 = c_{k−2}, 1 = c_{k−1}, 2 + i = intermediate node i. */
export type Nb301Edge = readonly [number, number];
/** 8 edges; edges 2j and 2j+1 feed intermediate node j. */
export type Nb301Cell = readonly Nb301Edge[];
export interface Nb301Arch {
  readonly normal: Nb301Cell;
  readonly reduce: Nb301Cell;
}

const EXPECTED =
  'a DARTS genotype "[[(i, o) ×8], [(i, o) ×8]]" (ZC table form) or "(((i, o) ×8), ((i, o) ×8))" (archs file form), ' +
  'normal cell first; edges 2j and 2j+1 feed node j from two different inputs in 0..j+1; ops 0 max_pool_3x3, ' +
  '1 avg_pool_3x3, 2 skip_connect, 3 sep_conv_3x3, 4 sep_conv_5x5, 5 dil_conv_3x3, 6 dil_conv_5x5';

const PAIR = String.raw`\((\d+),(\d+)\)`;
const CELL = (open: string, close: string) => `${open}${Array(8).fill(PAIR).join(',')}${close}`;
const LIST_FORM = new RegExp(`^\\[${CELL('\\[', '\\]')},${CELL('\\[', '\\]')}\\]$`);
const TUPLE_FORM = new RegExp(`^\\(${CELL('\\(', '\\)')},${CELL('\\(', '\\)')}\\)$`);

/** Parse either key form of an NB301 genotype. */
export function parseNb301(text: string, field = 'arch'): Nb301Arch {
  const compact = text.replace(/\s+/g, '');
  const m = LIST_FORM.exec(compact) ?? TUPLE_FORM.exec(compact);
  if (!m) throw new InputError(field, text, EXPECTED);
  const nums = m.slice(1).map(Number);
  const cells: Nb301Edge[][] = [[], []];
  for (let c = 0; c < 2; c++) {
    for (let e = 0; e < 8; e++) cells[c]!.push([nums[c * 16 + 2 * e]!, nums[c * 16 + 2 * e + 1]!]);
    for (let j = 0; j < 4; j++) {
      const [a, b] = [cells[c]![2 * j]!, cells[c]![2 * j + 1]!];
      for (const [input, op] of [a, b]) {
        if (input > j + 1) throw new InputError(field, text, `${EXPECTED}; ${c ? 'reduction' : 'normal'} node ${j} reads input ${input}`);
        if (op >= NB301_OPS.length) throw new InputError(field, text, `${EXPECTED}; unknown op index ${op}`);
      }
      if (a[0] === b[0]) throw new InputError(field, text, `${EXPECTED}; ${c ? 'reduction' : 'normal'} node ${j} reads input ${a[0]} twice`);
    }
  }
  return { normal: cells[0]!, reduce: cells[1]! };
}

/** The ZC table's key form: "[[(0, 0), (1, 5), …], […]]". */
export function formatNb301(arch: Nb301Arch): string {
  const cell = (c: Nb301Cell) => `[${c.map(([i, o]) => `(${i}, ${o})`).join(', ')}]`;
  return `[${cell(arch.normal)}, ${cell(arch.reduce)}]`;
}

/** DARTS's Genotype as its code prints it: edges as (op name, input), nodes 2–5 concatenated. */
export function nb301Genotype(arch: Nb301Arch): string {
  const cell = (c: Nb301Cell) => `[${c.map(([i, o]) => `('${NB301_OPS[o]}', ${i})`).join(', ')}]`;
  return `Genotype(normal=${cell(arch.normal)}, normal_concat=[2, 3, 4, 5], reduce=${cell(arch.reduce)}, reduce_concat=[2, 3, 4, 5])`;
}
