import { InputError } from '../../../errors';

/** NB201 op indices as NAS-Bench-Suite-Zero encodes them. */
export const NB201_OPS = ['skip_connect', 'none', 'nor_conv_3x3', 'nor_conv_1x1', 'avg_pool_3x3'] as const;
export type Nb201Op = (typeof NB201_OPS)[number];

/** Tuple position → edge (source node, destination node): source-major. */
export const NB201_EDGES: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [0, 2],
  [0, 3],
  [1, 2],
  [1, 3],
  [2, 3],
];

/** Six op indices, one per edge in NB201_EDGES order. */
export type Nb201Arch = readonly number[];

const EXPECTED =
  'a NASLib tuple "(a0, a1, a2, a3, a4, a5)" with ops 0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3, or an NB201 string "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"';

/** Parse a NASLib tuple string or an NB-201 API string. */
export function parseNb201(text: string, field = 'arch'): Nb201Arch {
  const s = text.trim();
  if (s.startsWith('|')) return parseNb201String(s, field);
  const m = /^\(\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*(\d)\s*\)$/.exec(s);
  if (!m) throw new InputError(field, text, EXPECTED);
  const ops = m.slice(1).map(Number);
  if (ops.some((o) => o > 4)) throw new InputError(field, text, EXPECTED);
  return ops;
}

function parseNb201String(s: string, field: string): Nb201Arch {
  const nodes = s.split('+');
  if (nodes.length !== 3) throw new InputError(field, s, EXPECTED);
  const ops = new Array<number>(6).fill(-1);
  nodes.forEach((node, j) => {
    const dst = j + 1;
    const m = /^\|(.*)\|$/.exec(node);
    if (!m) throw new InputError(field, s, EXPECTED);
    const parts = m[1]!.split('|');
    if (parts.length !== dst) throw new InputError(field, s, EXPECTED);
    for (const part of parts) {
      const [name, srcText] = part.split('~');
      const src = Number(srcText);
      const op = NB201_OPS.indexOf(name as Nb201Op);
      if (op < 0 || !Number.isInteger(src) || src < 0 || src >= dst) throw new InputError(field, s, EXPECTED);
      const pos = NB201_EDGES.findIndex(([a, b]) => a === src && b === dst);
      if (ops[pos] !== -1) throw new InputError(field, s, EXPECTED);
      ops[pos] = op;
    }
  });
  if (ops.includes(-1)) throw new InputError(field, s, EXPECTED);
  return ops;
}

/** NASLib's key form: "(4, 0, 3, 1, 4, 3)". */
export function formatNb201(arch: Nb201Arch): string {
  return `(${arch.join(', ')})`;
}

/** The NB-201 API string, grouped by destination node. */
export function nb201String(arch: Nb201Arch): string {
  const nodes: string[] = [];
  for (let dst = 1; dst <= 3; dst++) {
    const parts: string[] = [];
    for (let src = 0; src < dst; src++) {
      const pos = NB201_EDGES.findIndex(([a, b]) => a === src && b === dst);
      parts.push(`${NB201_OPS[arch[pos]!]}~${src}`);
    }
    nodes.push(`|${parts.join('|')}|`);
  }
  return nodes.join('+');
}

/** All 5^6 = 15,625 cells, in lexicographic tuple order, as NASLib key strings. */
export function* enumerateNb201(): Generator<string> {
  for (let i = 0; i < 15625; i++) {
    const ops: number[] = [];
    let r = i;
    for (let p = 5; p >= 0; p--) {
      ops[p] = r % 5;
      r = Math.floor(r / 5);
    }
    yield formatNb201(ops);
  }
}
