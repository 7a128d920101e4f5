import type { Rng } from '../rng';
import type { NetworkDef } from './ops';
import { numel, type ParamSpec } from './params';

/**
 * Initial parameter values, one independent seeded stream per parameter name (adding a module never
 * shifts another module's draws). Rules (docs/proxies.md §7):
 * - torch: PyTorch 1.x defaults: conv/linear weight and bias ~ U(−1/√fan_in, 1/√fan_in).
 * - nb101 (archai): conv weight ~ N(0, 2/(k²·C_out)); linear weight ~ N(0, 0.01²), bias 0.
 * - tnb: encoder convs ~ N(0, 2/(k²·C_out)) (He, fan-out); other layers as torch (decoder convs
 *   carry `init: 'torch'` in their ParamSpec, which overrides the network's rule).
 * Batch norm: γ = 1, β = 0 everywhere.
 */
export function initialValues(spec: ParamSpec, networkRule: NetworkDef['init'], rng: Rng): Float32Array {
  const rule = spec.init ?? networkRule;
  const out = new Float32Array(numel(spec.shape));
  const stream = rng.fork(`init/${spec.name}`);
  switch (spec.kind) {
    case 'bn_gamma':
      return out.fill(1);
    case 'bn_beta':
      return out;
    case 'conv':
      if (rule === 'nb101' || rule === 'tnb') {
        const k2 = spec.shape[0]! * spec.shape[1]!;
        return stream.fillNormal(out, 0, Math.sqrt(2 / (k2 * spec.fanOut))) as Float32Array;
      }
      return uniform(out, stream, spec.fanIn);
    case 'linear':
      if (rule === 'nb101') return stream.fillNormal(out, 0, 0.01) as Float32Array;
      return uniform(out, stream, spec.fanIn);
    case 'bias':
      if (rule === 'nb101') return out;
      return uniform(out, stream, spec.fanIn);
    case 'conv_transpose':
    case 'conv_transpose_bias':
      // PyTorch default for ConvTranspose2d (fan_in = out·k·k), whatever the network's rule.
      return uniform(out, stream, spec.fanIn);
  }
}

function uniform(out: Float32Array, rng: Rng, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  return rng.fillUniform(out, -bound, bound) as Float32Array;
}
