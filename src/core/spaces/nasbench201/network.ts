import type { NetworkDef, Ops } from '../../nn/ops';
import type { TaskSpec } from '../../tasks';
import { NB201_EDGES, type Nb201Arch } from './arch';

const STAGE_CHANNELS = [16, 32, 64];
const CELLS_PER_STAGE = 5;

/** ReLU → conv (k, stride, pad k//2 or 1) → BN (affine): NB201's ReLUConvBN. */
function reluConvBn<T>(ops: Ops<T>, x: T, name: string, cin: number, cout: number, k: number, stride: number): T {
  const a = ops.relu(x, `${name}.relu`);
  const c = ops.conv(a, { name: `${name}.conv`, inChannels: cin, outChannels: cout, kernel: k, stride, padding: k === 1 ? 0 : 1 });
  return ops.batchNorm(c, { name: `${name}.bn`, channels: cout, affine: true });
}

function edgeOp<T>(ops: Ops<T>, x: T, op: number, name: string, c: number): T {
  switch (op) {
    case 0:
      return ops.identity(x, `${name}.skip`); // skip_connect
    case 1:
      return ops.zero(x); // none
    case 2:
      return reluConvBn(ops, x, name, c, c, 3, 1);
    case 3:
      return reluConvBn(ops, x, name, c, c, 1, 1);
    case 4:
      return ops.avgPool(x, { name: `${name}.pool`, kernel: 3, stride: 1, padding: 1 });
    default:
      throw new Error(`unknown NB201 op ${op}`);
  }
}

function cell<T>(ops: Ops<T>, x: T, arch: Nb201Arch, k: number, c: number): T {
  const nodes: T[] = [x];
  for (let dst = 1; dst <= 3; dst++) {
    const inputs: T[] = [];
    NB201_EDGES.forEach(([src, d], pos) => {
      if (d === dst) inputs.push(edgeOp(ops, nodes[src]!, arch[pos]!, `cells.${k}.edge.${src}-${dst}`, c));
    });
    nodes.push(ops.add(inputs));
  }
  return nodes[3]!;
}

/** NB201's residual reduction block a→2a: ReLUConvBN(3, s2) → ReLUConvBN(3) + (avgpool 2×2 → conv 1×1). */
function residualBlock<T>(ops: Ops<T>, x: T, r: number, cin: number, cout: number): T {
  const name = `reductions.${r}`;
  const a = reluConvBn(ops, x, `${name}.conv_a`, cin, cout, 3, 2);
  const b = reluConvBn(ops, a, `${name}.conv_b`, cout, cout, 3, 1);
  const p = ops.avgPool(x, { name: `${name}.shortcut.pool`, kernel: 2, stride: 2, padding: 0 });
  const s = ops.conv(p, { name: `${name}.shortcut.conv`, inChannels: cin, outChannels: cout, kernel: 1 });
  return ops.add([b, s]);
}

/**
 * Forward hooks per module output in MeCo's NB201 model (HamsterMimi/MeCo
 * correlation/foresight/models/nasbench2.py, every module hooked): a BN ends a ReLUConvBN or the stem,
 * whose Sequential and module report it too (3); an edge's avg pool is also its POOLING module (2);
 * the shortcut conv is also the shortcut Sequential (2); the head ReLU is also `lastact` (2), its BN
 * only itself (1); a stage's last cell is also the stage (2).
 */
function nb201ModuleHookCalls(module: string): number {
  if (module === 'lastact.bn') return 1;
  if (module === 'lastact.relu') return 2;
  if (/\.bn$/.test(module)) return 3;
  if (/^cells\.\d+\.edge\.\d-\d\.pool$/.test(module) || /\.shortcut\.conv$/.test(module)) return 2;
  const cell = /^cells\.(\d+)$/.exec(module);
  if (cell) return Number(cell[1]) % CELLS_PER_STAGE === CELLS_PER_STAGE - 1 ? 2 : 1;
  return 1;
}

/** The NB201 macro network (C = 16, N = 5) that NASLib scores, for one task's input and classes. */
export function nb201Network(arch: Nb201Arch, task: TaskSpec): NetworkDef {
  const [, , cin] = task.inputShape;
  return {
    init: 'torch',
    inputShape: task.inputShape,
    outputs: task.outputs,
    moduleHookCalls: nb201ModuleHookCalls,
    forward<T>(ops: Ops<T>, input: T): T {
      let x = ops.conv(input, { name: 'stem.conv', inChannels: cin, outChannels: 16, kernel: 3, padding: 1 });
      x = ops.batchNorm(x, { name: 'stem.bn', channels: 16, affine: true });
      let k = 0;
      STAGE_CHANNELS.forEach((c, stage) => {
        const r = stage - 1;
        if (stage > 0) x = ops.segment(`reductions.${r}`, [x], (o, [y]) => residualBlock(o, y!, r, STAGE_CHANNELS[r]!, c));
        for (let i = 0; i < CELLS_PER_STAGE; i++, k++) {
          const index = k;
          x = ops.segment(`cells.${index}`, [x], (o, [y]) => cell(o, y!, arch, index, c));
        }
      });
      x = ops.batchNorm(x, { name: 'lastact.bn', channels: 64, affine: true });
      x = ops.relu(x, 'lastact.relu');
      x = ops.feature(x);
      const pooled = ops.globalAvgPool(x, 'global_pooling');
      return ops.linear(pooled, { name: 'classifier', inFeatures: 64, outFeatures: task.outputs });
    },
  };
}
