import { InputError } from '../../../errors';
import type { NetworkDef, Ops } from '../../nn/ops';
import type { TaskSpec } from '../../tasks';
import { factorizedReduce } from '../nasbench301/network';
import { TNB_MICRO_9X_EDGES, TNB_MICRO_9X_TASKS, TNB_MICRO_EDGES, type TnbMicroArch } from './arch';
import { reluConvBn, taskonomyNetwork, tnbStem, TNB_BASE_CHANNELS, type TnbEncoder } from './taskonomy';

export { TNB_MICRO_9X_EDGES, TNB_MICRO_EDGES } from './arch';

/** TNB's FactorizedReduce a→b at stride s: relu ; [conv1×1 on x ‖ conv1×1 on x shifted up-left, zero-padded] ; bn. */
function tnbFactorizedReduce<T>(outer: Ops<T>, input: T, name: string, a: number, b: number, s: number): T {
  return outer.segment(name, [input], (ops, [x]) => tnbFactorizedReduceOps(ops, x!, name, a, b, s));
}

function tnbFactorizedReduceOps<T>(ops: Ops<T>, x: T, name: string, a: number, b: number, s: number): T {
  const r = ops.relu(x, `${name}.relu`);
  const half = Math.floor(b / 2);
  const c0 = ops.conv(r, { name: `${name}.convs.0`, inChannels: a, outChannels: half, kernel: 1, stride: s });
  const c1 = ops.conv(ops.shiftUpLeft(r), { name: `${name}.convs.1`, inChannels: a, outChannels: b - half, kernel: 1, stride: s });
  return ops.batchNorm(ops.concat([c0, c1]), { name: `${name}.bn`, channels: b, affine: true });
}

/** One edge of a TNB MicroCell (TNB codes: 0 zero, 1 skip, 2 conv 1×1, 3 conv 3×3). */
function tnbEdge<T>(ops: Ops<T>, x: T, op: number, name: string, a: number, b: number, s: number): T {
  switch (op) {
    case 0:
      return s === 1 && a === b ? ops.zero(x) : ops.zeroReduce(x, s, b);
    case 1:
      return s === 1 && a === b ? x : tnbFactorizedReduce(ops, x, name, a, b, s);
    case 2:
      return reluConvBn(ops, x, name, a, b, 1, s);
    case 3:
      return reluConvBn(ops, x, name, a, b, 3, s);
    default:
      throw new Error(`unknown TNB op ${op}`);
  }
}

/** tnbEdge on a given ops, in microCell's edge-function form. */
function tnbEdgeOn<T>(ops: Ops<T>) {
  return (y: T, op: number, name: string, a: number, b: number, s: number) => tnbEdge(ops, y, op, name, a, b, s);
}

/** A cell a→b at stride s: edges leaving n0 are (a→b, s), the others (b→b, 1); n_j = Σ incoming. */
function microCell<T>(
  ops: Ops<T>,
  x: T,
  arch: TnbMicroArch,
  edges: ReadonlyArray<readonly [number, number]>,
  name: string,
  a: number,
  b: number,
  s: number,
  edgeOp: (x: T, op: number, name: string, a: number, b: number, s: number) => T,
): T {
  const nodes: T[] = [x];
  for (let dst = 1; dst <= 3; dst++) {
    const inputs: T[] = [];
    edges.forEach(([src, d], pos) => {
      if (d !== dst) return;
      inputs.push(
        src === 0 ? edgeOp(nodes[0]!, arch[pos]!, `${name}.edges.${pos}`, a, b, s) : edgeOp(nodes[src]!, arch[pos]!, `${name}.edges.${pos}`, b, b, 1),
      );
    });
    nodes.push(ops.add(inputs));
  }
  return nodes[3]!;
}

/** Micro code 4 1 4 1 4: channels double on even codes, stride 2 on codes > 2; two cells per layer. */
const MICRO_LAYERS = [4, 1, 4, 1, 4];

function microEncoder(arch: TnbMicroArch): TnbEncoder {
  let channels = TNB_BASE_CHANNELS;
  for (const code of MICRO_LAYERS) if (code % 2 === 0) channels *= 2;
  return {
    channels,
    strideLayers: MICRO_LAYERS.filter((c) => c > 2).length,
    forward<T>(ops: Ops<T>, input: T): T {
      let x = tnbStem(ops, input, 3);
      let a = TNB_BASE_CHANNELS;
      MICRO_LAYERS.forEach((code, i) => {
        const b = code % 2 === 0 ? a * 2 : a;
        const s = code > 2 ? 2 : 1;
        x = microCell(ops, x, arch, TNB_MICRO_EDGES, `encoder.layer${i}.0`, a, b, s, tnbEdgeOn(ops));
        x = microCell(ops, x, arch, TNB_MICRO_EDGES, `encoder.layer${i}.1`, b, b, 1, tnbEdgeOn(ops));
        a = b;
      });
      return x;
    },
  };
}

/** One edge of the 9x NASLib graph (codes 0 skip, 1 zero, 2 conv 3×3, 3 conv 1×1). */
function graphEdge<T>(ops: Ops<T>, x: T, op: number, name: string, a: number, b: number, s: number): T {
  switch (op) {
    case 0:
      return s === 1 ? x : factorizedReduce(ops, x, name, a, b, false);
    case 1:
      return s === 1 && a === b ? ops.zero(x) : ops.zeroReduce(x, s, b);
    // NASLib's core ReLUConvBN pads 1 whenever stride is 2, which for the 1×1 conv would give
    // ⌊H/2⌋+1 rows and break the node sums; the 1×1 conv here keeps padding 0 (docs/search-spaces.md §6).
    case 2:
      return reluNaslibConvBn(ops, x, name, a, b, 3, s);
    case 3:
      return reluNaslibConvBn(ops, x, name, a, b, 1, s);
    default:
      throw new Error(`unknown TNB op ${op}`);
  }
}

function reluNaslibConvBn<T>(ops: Ops<T>, x: T, name: string, a: number, b: number, k: number, s: number): T {
  const r = ops.relu(x, `${name}.op.0`);
  const c = ops.conv(r, { name: `${name}.op.1`, inChannels: a, outChannels: b, kernel: k, stride: s, padding: (k - 1) / 2 });
  return ops.batchNorm(c, { name: `${name}.op.2`, channels: b, affine: true });
}

/** Modules of the 9x graph: (stage name, reduction) — r_stage_1, n_stage_1, r_stage_2, two cells each. */
const MODULES_9X: ReadonlyArray<boolean> = [true, false, true];

/**
 * NASLib's own TNB-micro graph for svhn / ninapro / scifar100 (docs/search-spaces.md §6): stem
 * conv 3×3 c_in→64 + BN, three modules of two cells (64→128 s2, 128, 128, 128, 128→256 s2, 256),
 * global average pool, fc(256→K). PyTorch default init.
 */
function micro9xNetwork(arch: TnbMicroArch, task: TaskSpec): NetworkDef {
  const [, , cin] = task.inputShape;
  return {
    init: 'torch',
    inputShape: task.inputShape,
    outputs: task.outputs,
    forward<T>(ops: Ops<T>, input: T): T {
      let x = ops.conv(input, { name: 'stem.seq.0', inChannels: cin, outChannels: TNB_BASE_CHANNELS, kernel: 3, padding: 1 });
      x = ops.batchNorm(x, { name: 'stem.seq.1', channels: TNB_BASE_CHANNELS, affine: true });
      let c = TNB_BASE_CHANNELS;
      MODULES_9X.forEach((reduction, m) => {
        for (let i = 0; i < 2; i++) {
          const down = reduction && i === 0;
          const [name, cin] = [`modules.${m}.cells.${i}`, c];
          const edge = (o: Ops<T>) => (y: T, op: number, n: string, a: number, b: number, s: number) => graphEdge(o, y, op, n, a, b, s);
          x = ops.segment(name, [x], (o, [y]) => microCell(o, y!, arch, TNB_MICRO_9X_EDGES, name, cin, down ? 2 * cin : cin, down ? 2 : 1, edge(o)));
          if (down) c *= 2;
        }
      });
      const features = ops.feature(x);
      const pooled = ops.globalAvgPool(features, 'head.avgpool');
      return ops.linear(pooled, { name: 'head.fc', inFeatures: c, outFeatures: task.outputs });
    },
  };
}

/** The network NASLib scores for a TNB-micro cell: the TNB model on Taskonomy tasks, the 9x graph otherwise. */
export function tnbMicroNetwork(arch: TnbMicroArch, task: TaskSpec): NetworkDef {
  if (TNB_MICRO_9X_TASKS.has(task.name)) return micro9xNetwork(arch, task);
  if (!task.taskonomy) throw new InputError('task', task.name, 'valid for transbench101_micro: svhn, ninapro, scifar100 and the 7 Taskonomy tasks');
  return taskonomyNetwork(microEncoder(arch), task, 'transbench101_micro');
}
