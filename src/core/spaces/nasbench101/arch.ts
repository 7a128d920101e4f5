import { InputError } from '../../../errors';

/** NB101 vertex op codes as NASLib's 56-int tuples write them. */
export const NB101_OPS = ['input', 'output', 'maxpool3x3', 'conv1x1-bn-relu', 'conv3x3-bn-relu'] as const;
export const NB101_INPUT = 0;
export const NB101_OUTPUT = 1;
export const NB101_MAXPOOL = 2;
export const NB101_CONV1 = 3;
export const NB101_CONV3 = 4;
export const NB101_MAX_VERTICES = 7;

/** An NB101 cell as encoded (unpruned): n×n adjacency (row = source) and n vertex ops. */
export interface Nb101Arch {
  readonly n: number;
  /** Row-major n×n 0/1 matrix, strictly upper triangular. */
  readonly matrix: readonly number[];
  readonly ops: readonly number[];
}

/** The cell after removing vertices that are not on an input→output path (NASLib/NB101 ModelSpec._prune). */
export interface Nb101Pruned {
  readonly n: number;
  readonly matrix: readonly number[];
  readonly ops: readonly number[];
}

const EXPECTED =
  'a NASLib tuple of n²+n integers (n ≤ 7): a strictly upper-triangular 0/1 adjacency matrix, row-major ' +
  '(row = source; no self-loops, no cycles), then n op codes 0 input, 1 output, 2 maxpool3x3, ' +
  '3 conv1x1-bn-relu, 4 conv3x3-bn-relu (first 0, last 1), with a path from input to output';

/** Parse NASLib's tuple "(m00, m01, …, m66, t0, …, t6)" (any length n²+n, 2 ≤ n ≤ 7). */
export function parseNb101(text: string, field = 'arch'): Nb101Arch {
  const s = text.trim();
  const m = /^\(([\s\d,]*)\)$/.exec(s);
  if (!m) throw new InputError(field, text, EXPECTED);
  const parts = m[1]!.split(',').map((p) => p.trim());
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop(); // Python's trailing comma
  if (parts.some((p) => !/^\d+$/.test(p))) throw new InputError(field, text, EXPECTED);
  const values = parts.map(Number);
  const L = values.length;
  const n = Math.floor((Math.sqrt(1 + 4 * L) - 1) / 2);
  if (n * n + n !== L || n < 2 || n > NB101_MAX_VERTICES) {
    throw new InputError(field, text, `${EXPECTED}; got ${L} integers, not n²+n for 2 ≤ n ≤ 7`);
  }
  const matrix = values.slice(0, n * n);
  const ops = values.slice(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = matrix[i * n + j]!;
      if (v !== 0 && v !== 1) throw new InputError(field, text, `${EXPECTED}; entry (${i}, ${j}) is ${v}`);
      if (v === 1 && j <= i) {
        throw new InputError(
          field,
          text,
          `${EXPECTED}; edge ${i}→${j} is ${i === j ? 'a self-loop' : 'below the diagonal (not upper-triangular: a cycle or a backward edge)'}`,
        );
      }
    }
  }
  if (ops[0] !== NB101_INPUT || ops[n - 1] !== NB101_OUTPUT) throw new InputError(field, text, `${EXPECTED}; ops must start with 0 and end with 1`);
  for (let t = 1; t < n - 1; t++) {
    const op = ops[t]!;
    if (op !== NB101_MAXPOOL && op !== NB101_CONV1 && op !== NB101_CONV3) {
      throw new InputError(field, text, `${EXPECTED}; vertex ${t} has op ${op}`);
    }
  }
  const arch: Nb101Arch = { n, matrix, ops };
  if (!pruneNb101(arch)) throw new InputError(field, text, `${EXPECTED}; the output is not reachable from the input`);
  return arch;
}

/** NASLib's key: the unpruned encoding as given, "(0, 1, 1, …, 4, 1)". */
export function formatNb101(arch: Nb101Arch): string {
  return `(${[...arch.matrix, ...arch.ops].join(', ')})`;
}

/** NB101's ModelSpec arguments as JSON: `{"matrix":[[0,1,…],…],"ops":["input",…,"output"]}`. */
export function nb101Readable(arch: Nb101Arch): string {
  const rows = Array.from({ length: arch.n }, (_, i) => arch.matrix.slice(i * arch.n, (i + 1) * arch.n));
  return JSON.stringify({ matrix: rows, ops: arch.ops.map((o) => NB101_OPS[o]) });
}

/** Keep the vertices on some input→output path; null if the output is unreachable. */
export function pruneNb101(arch: Nb101Arch): Nb101Pruned | null {
  const { n, matrix, ops } = arch;
  const edge = (i: number, j: number) => matrix[i * n + j] === 1;
  const fromInput = new Set([0]);
  for (let i = 0; i < n; i++) {
    if (!fromInput.has(i)) continue;
    for (let j = i + 1; j < n; j++) if (edge(i, j)) fromInput.add(j);
  }
  const toOutput = new Set([n - 1]);
  for (let j = n - 1; j >= 0; j--) {
    if (!toOutput.has(j)) continue;
    for (let i = 0; i < j; i++) if (edge(i, j)) toOutput.add(i);
  }
  const keep = [...Array(n).keys()].filter((v) => fromInput.has(v) && toOutput.has(v));
  if (!keep.includes(0) || !keep.includes(n - 1)) return null;
  const V = keep.length;
  const pruned: number[] = [];
  for (const i of keep) for (const j of keep) pruned.push(edge(i, j) ? 1 : 0);
  return { n: V, matrix: pruned, ops: keep.map((v) => ops[v]!) };
}

/**
 * Channels per vertex of a pruned cell a→b (archai's ComputeVertexChannels): vertices feeding the
 * output split b, the first (b mod |F|) taking one more; other interior vertices take the maximum
 * over their interior successors, going backwards.
 */
export function vertexChannels(cell: Nb101Pruned, a: number, b: number): number[] {
  const { n: V, matrix } = cell;
  const edge = (i: number, j: number) => matrix[i * V + j] === 1;
  const c = new Array<number>(V).fill(0);
  c[0] = a;
  c[V - 1] = b;
  if (V === 2) return c;
  let feeding = 0;
  for (let v = 1; v < V - 1; v++) if (edge(v, V - 1)) feeding++;
  const base = Math.floor(b / feeding);
  let correction = b % feeding;
  for (let v = 1; v < V - 1; v++) {
    if (!edge(v, V - 1)) continue;
    c[v] = base;
    if (correction > 0) {
      c[v]!++;
      correction--;
    }
  }
  for (let v = V - 3; v >= 1; v--) {
    if (edge(v, V - 1)) continue;
    for (let dst = v + 1; dst < V - 1; dst++) if (edge(v, dst)) c[v] = Math.max(c[v]!, c[dst]!);
  }
  return c;
}
