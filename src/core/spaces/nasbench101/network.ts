import { InputError } from '../../../errors';
import type { NetworkDef, Ops } from '../../nn/ops';
import type { TaskSpec } from '../../tasks';
import { NB101_CONV1, NB101_CONV3, NB101_MAXPOOL, pruneNb101, vertexChannels, type Nb101Arch, type Nb101Pruned } from './arch';

const STEM_CHANNELS = 128;
const STACKS = 3;
const CELLS_PER_STACK = 3;

/** archai's ConvBnRelu: conv (no bias, pad k//2) → BN (affine, ε 1e-5) → ReLU. One segment (NB101's cells are too big for one). */
function convBnRelu<T>(outer: Ops<T>, input: T, name: string, cin: number, cout: number, k: number): T {
  return outer.segment(name, [input], (ops, [x]) => convBnReluOps(ops, x!, name, cin, cout, k));
}

function convBnReluOps<T>(ops: Ops<T>, x: T, name: string, cin: number, cout: number, k: number): T {
  const c = ops.conv(x, { name: `${name}.conv`, inChannels: cin, outChannels: cout, kernel: k, padding: (k - 1) / 2 });
  const b = ops.batchNorm(c, { name: `${name}.bn`, channels: cout, affine: true });
  return ops.relu(b, `${name}.relu`);
}

/** One NB101 cell a→b (docs/search-spaces.md §2.3), on the pruned spec. */
function cell<T>(ops: Ops<T>, x: T, spec: Nb101Pruned, name: string, a: number, b: number): T {
  const V = spec.n;
  const edge = (i: number, j: number) => spec.matrix[i * V + j] === 1;
  const c = vertexChannels(spec, a, b);
  const project = (t: number) => convBnRelu(ops, x, `${name}.input_op.${t}`, a, c[t]!, 1);
  const tensors: T[] = [x];
  const outConcat: T[] = [];
  for (let t = 1; t < V - 1; t++) {
    const fanIn: T[] = [];
    for (let src = 1; src < t; src++) if (edge(src, t)) fanIn.push(ops.sliceChannels(tensors[src]!, c[t]!));
    if (edge(0, t)) fanIn.push(project(t));
    const input = ops.add(fanIn);
    const vname = `${name}.vertex_op.${t}`;
    let out: T;
    switch (spec.ops[t]) {
      case NB101_CONV3:
        out = convBnRelu(ops, input, vname, c[t]!, c[t]!, 3);
        break;
      case NB101_CONV1:
        out = convBnRelu(ops, input, vname, c[t]!, c[t]!, 1);
        break;
      case NB101_MAXPOOL:
        out = ops.segment(vname, [input], (o, [y]) => o.maxPool(y!, { name: `${vname}.pool`, kernel: 3, stride: 1, padding: 1 }));
        break;
      default:
        throw new Error(`unknown NB101 op ${spec.ops[t]}`);
    }
    tensors.push(out);
    if (edge(t, V - 1)) outConcat.push(out);
  }
  if (outConcat.length === 0) return project(V - 1);
  const joined = ops.concat(outConcat);
  return edge(0, V - 1) ? ops.add([joined, project(V - 1)]) : joined;
}

/**
 * The NB101 network NASLib scores (archai's builder, the benchmark network): stem ConvBnRelu 3→128,
 * 3 stacks of 3 cells (channels doubled and 2×2 max pool between stacks), mean over H, W, fc → 10.
 */
export function nb101Network(arch: Nb101Arch, task: TaskSpec): NetworkDef {
  if (task.name !== 'cifar10') throw new InputError('task', task.name, 'nasbench101 has cifar10 only');
  const spec = pruneNb101(arch);
  if (!spec) throw new InputError('arch', arch, 'an NB101 cell whose output is reachable from its input');
  const [, , cin] = task.inputShape;
  return {
    init: 'nb101',
    inputShape: task.inputShape,
    outputs: task.outputs,
    forward<T>(ops: Ops<T>, input: T): T {
      let layer = 0;
      let x = convBnRelu(ops, input, `layers.${layer++}`, cin, STEM_CHANNELS, 3);
      let a = STEM_CHANNELS;
      let b = STEM_CHANNELS;
      for (let stack = 0; stack < STACKS; stack++) {
        if (stack > 0) {
          x = ops.maxPool(x, { name: `layers.${layer++}`, kernel: 2, stride: 2, padding: 0 });
          b *= 2;
        }
        for (let i = 0; i < CELLS_PER_STACK; i++) {
          x = cell(ops, x, spec, `layers.${layer++}`, a, b);
          a = b;
        }
      }
      x = ops.feature(x);
      // archai takes torch.mean over H, W (no pooling module: no flops).
      const pooled = ops.globalMean(x);
      return ops.linear(pooled, { name: 'classifier', inFeatures: b, outFeatures: task.outputs });
    },
  };
}
