import { InputError } from '../../../errors';
import type { NetworkDef, Ops } from '../../nn/ops';
import type { TaskSpec } from '../../tasks';
import type { Nb301Arch, Nb301Cell } from './arch';

const C = 32;
const STEM_MULTIPLIER = 3;
/** Cells N N R N N R N N (NB301's training configuration: 8 cells, C = 32). */
const REDUCTION_CELLS = new Set([2, 5]);
const N_CELLS = 8;
const TASKS = new Set(['cifar10', 'svhn', 'ninapro', 'scifar100']);

/** relu ; conv(k, s, (k−1)/2, no bias) ; bn (affine): NASLib's ReLUConvBN (the cells' pre-processing). */
function reluConvBn<T>(ops: Ops<T>, x: T, name: string, cin: number, cout: number): T {
  const a = ops.relu(x, `${name}.op.0`);
  const c = ops.conv(a, { name: `${name}.op.1`, inChannels: cin, outChannels: cout, kernel: 1 });
  return ops.batchNorm(c, { name: `${name}.op.2`, channels: cout, affine: true });
}

/** DARTS factorized reduce a→b: relu ; [conv1×1 s2 on x ‖ conv1×1 s2 on x[:, 1:, 1:]] ; bn. */
export function factorizedReduce<T>(ops: Ops<T>, x: T, name: string, a: number, b: number, affine: boolean): T {
  const r = ops.relu(x, `${name}.relu`);
  const half = b / 2;
  const c1 = ops.conv(r, { name: `${name}.conv_1`, inChannels: a, outChannels: half, kernel: 1, stride: 2 });
  const c2 = ops.conv(ops.dropFirstRowColumn(r), { name: `${name}.conv_2`, inChannels: a, outChannels: half, kernel: 1, stride: 2 });
  return ops.batchNorm(ops.concat([c1, c2]), { name: `${name}.bn`, channels: b, affine });
}

/** relu ; depthwise k×k (stride s, dilation d) ; conv 1×1 ; bn° — one half of SEP, or all of DIL. */
function reluDwPwBn<T>(ops: Ops<T>, x: T, name: string, c: number, k: number, s: number, d: number, first: number): T {
  const r = ops.relu(x, `${name}.op.${first}`);
  const dw = ops.conv(r, {
    name: `${name}.op.${first + 1}`,
    inChannels: c,
    outChannels: c,
    kernel: k,
    stride: s,
    padding: (d * (k - 1)) / 2,
    dilation: d,
    groups: c,
  });
  const pw = ops.conv(dw, { name: `${name}.op.${first + 2}`, inChannels: c, outChannels: c, kernel: 1 });
  return ops.batchNorm(pw, { name: `${name}.op.${first + 3}`, channels: c, affine: false });
}

/** One cell edge at width c (docs/search-spaces.md §3.1); cell-op BNs are non-affine. */
function edgeOp<T>(ops: Ops<T>, x: T, op: number, name: string, c: number, s: number): T {
  switch (op) {
    case 0:
    case 1: {
      const spec = { name: `${name}.pool`, kernel: 3, stride: s, padding: 1 };
      const p = op === 0 ? ops.maxPool(x, spec) : ops.avgPool(x, spec);
      return ops.batchNorm(p, { name: `${name}.bn`, channels: c, affine: false });
    }
    case 2:
      return s === 1 ? x : factorizedReduce(ops, x, name, c, c, false);
    case 3:
    case 4: {
      const k = op === 3 ? 3 : 5;
      return reluDwPwBn(ops, reluDwPwBn(ops, x, name, c, k, s, 1, 0), name, c, k, 1, 1, 4);
    }
    case 5:
    case 6:
      return reluDwPwBn(ops, x, name, c, op === 5 ? 3 : 5, s, 2, 0);
    default:
      throw new Error(`unknown NB301 op ${op}`);
  }
}

function cell<T>(ops: Ops<T>, s0: T, s1: T, genotype: Nb301Cell, name: string, c: number, reduction: boolean): T {
  const states: T[] = [s0, s1];
  for (let j = 0; j < 4; j++) {
    const inputs = [0, 1].map((slot) => {
      const [input, op] = genotype[2 * j + slot]!;
      const stride = reduction && input < 2 ? 2 : 1;
      const edge = `${name}.edges.${j}.${slot}`;
      return ops.segment(edge, [states[input]!], (o, [x]) => edgeOp(o, x!, op, edge, c, stride));
    });
    states.push(ops.add(inputs));
  }
  return ops.concat(states.slice(2));
}

/**
 * The NB301 network NASLib scores (docs/search-spaces.md §3.2): stem conv 3×3 → 96 + BN, 8 DARTS
 * cells (C = 32, reductions at cells 2 and 5), global average pool, fc → K. No auxiliary head.
 */
export function nb301Network(arch: Nb301Arch, task: TaskSpec): NetworkDef {
  if (!TASKS.has(task.name)) throw new InputError('task', task.name, `valid for nasbench301: ${[...TASKS].join(', ')}`);
  const [, , cin] = task.inputShape;
  return {
    init: 'torch',
    inputShape: task.inputShape,
    outputs: task.outputs,
    forward<T>(ops: Ops<T>, input: T): T {
      const stemC = STEM_MULTIPLIER * C;
      let x = ops.conv(input, { name: 'stem.0', inChannels: cin, outChannels: stemC, kernel: 3, padding: 1 });
      x = ops.batchNorm(x, { name: 'stem.1', channels: stemC, affine: true });
      let [prevPrev, prev] = [x, x];
      let [cPrevPrev, cPrev] = [stemC, stemC];
      let c = C;
      let prevReduction = false;
      for (let k = 0; k < N_CELLS; k++) {
        const reduction = REDUCTION_CELLS.has(k);
        if (reduction) c *= 2;
        const name = `cells.${k}`;
        // Segments: each preprocessing and each edge (a whole DARTS cell is too big at batch 64).
        const [cpp, cp, width, afterReduction] = [cPrevPrev, cPrev, c, prevReduction];
        const s0 = ops.segment(`${name}.preprocess0`, [prevPrev], (o, [pp]) =>
          afterReduction ? factorizedReduce(o, pp!, `${name}.preprocess0`, cpp, width, true) : reluConvBn(o, pp!, `${name}.preprocess0`, cpp, width),
        );
        const s1 = ops.segment(`${name}.preprocess1`, [prev], (o, [p]) => reluConvBn(o, p!, `${name}.preprocess1`, cp, width));
        const out = cell(ops, s0, s1, reduction ? arch.reduce : arch.normal, name, width, reduction);
        [prevPrev, prev] = [prev, out];
        [cPrevPrev, cPrev] = [cPrev, 4 * c];
        prevReduction = reduction;
      }
      const features = ops.feature(prev);
      const pooled = ops.globalAvgPool(features, 'global_pooling');
      return ops.linear(pooled, { name: 'classifier', inFeatures: cPrev, outFeatures: task.outputs });
    },
  };
}
