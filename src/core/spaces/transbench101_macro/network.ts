import type { NetworkDef, Ops } from '../../nn/ops';
import type { TaskSpec } from '../../tasks';
import { InputError } from '../../../errors';
import { reluConvBn, taskonomyNetwork, tnbStem, TNB_BASE_CHANNELS, type TnbEncoder } from '../transbench101_micro/taskonomy';
import { isDoubling, isStride, type TnbMacroArch } from './arch';

/**
 * TNB's ResNetBasicblock a→b at stride s: RCB(3, s) ; RCB(3, 1), plus a shortcut conv 1×1 (stride s)
 * and BN when the shape changes. That BN gets its flags positionally in the ε and momentum slots:
 * affine, ε = 1, momentum = 1 (docs/search-spaces.md §5; reproduced).
 */
function basicBlock<T>(ops: Ops<T>, x: T, name: string, a: number, b: number, s: number): T {
  const main = reluConvBn(ops, reluConvBn(ops, x, `${name}.conv_a`, a, b, 3, s), `${name}.conv_b`, b, b, 3, 1);
  if (s === 1 && a === b) return ops.add([x, main]);
  const shortcut = ops.segment(`${name}.downsample`, [x], (o, [y]) => {
    const c = o.conv(y!, { name: `${name}.downsample.0`, inChannels: a, outChannels: b, kernel: 1, stride: s });
    return o.batchNorm(c, { name: `${name}.downsample.1`, channels: b, affine: true, eps: 1, momentum: 1 });
  });
  return ops.add([shortcut, main]);
}

function macroEncoder(arch: TnbMacroArch): TnbEncoder {
  let channels = TNB_BASE_CHANNELS;
  for (const code of arch) if (isDoubling(code)) channels *= 2;
  return {
    channels,
    strideLayers: arch.filter(isStride).length,
    forward<T>(ops: Ops<T>, input: T): T {
      let x = tnbStem(ops, input, 3);
      let a = TNB_BASE_CHANNELS;
      arch.forEach((code, i) => {
        const b = isDoubling(code) ? 2 * a : a;
        x = basicBlock(ops, x, `encoder.layer${i}.0`, a, b, isStride(code) ? 2 : 1);
        x = basicBlock(ops, x, `encoder.layer${i}.1`, b, b, 1);
        a = b;
      });
      return x;
    },
  };
}

/** The TNB model of a macro skeleton (`64-{codes}-basic`) for a Taskonomy task. */
export function tnbMacroNetwork(arch: TnbMacroArch, task: TaskSpec): NetworkDef {
  if (!task.taskonomy) throw new InputError('task', task.name, 'valid for transbench101_macro: the 7 Taskonomy tasks');
  return taskonomyNetwork(macroEncoder(arch), task, 'transbench101_macro');
}
