import type { BatchNormSpec, ConvSpec, ConvTransposeSpec, LinearSpec, NetworkDef } from './ops';

/**
 * Which role a parameter plays; per-weight proxies read `conv` and `linear` weights only.
 * `conv_transpose` / `conv_transpose_bias`: a ConvTranspose2d's weight and bias (TNB decoders): not in
 * 𝒫, and zen's re-initialisation leaves them at their initial values (docs/proxies.md §3.10).
 */
export type ParamKind = 'conv' | 'linear' | 'bias' | 'bn_gamma' | 'bn_beta' | 'conv_transpose' | 'conv_transpose_bias';

/** One parameter tensor of a network, in TF.js layout. */
export interface ParamSpec {
  /** PyTorch-style name, e.g. `cells.3.edge.0-2.conv.weight`. */
  name: string;
  /** Owning module, e.g. `cells.3.edge.0-2.conv`. */
  module: string;
  kind: ParamKind;
  /** conv: [kh, kw, in/groups, out] (depthwise: [kh, kw, C, 1]); linear: [in, out]; others: [C]. */
  shape: number[];
  /** PyTorch's fan_in of the owning conv/linear module (for default init bounds). */
  fanIn: number;
  /** Output channels of the owning module (NB101/TNB inits scale by fan-out). */
  fanOut: number;
  /** conv/linear weights: the layers 𝒫 that grad_norm, snip, plain, fisher, grasp, synflow, l2_norm sum over. */
  prunable: boolean;
  /** Init rule of the owning module when it differs from the network's (TNB decoders: 'torch'). */
  init?: NetworkDef['init'];
}

export function convParams(spec: ConvSpec): ParamSpec[] {
  const groups = spec.groups ?? 1;
  const k = spec.kernel;
  const depthwise = groups > 1 && groups === spec.inChannels && groups === spec.outChannels;
  if (groups > 1 && !depthwise) throw new Error(`${spec.name}: grouped convs other than depthwise are not supported`);
  const fanIn = (spec.inChannels / groups) * k * k;
  const weight: ParamSpec = {
    name: `${spec.name}.weight`,
    module: spec.name,
    kind: 'conv',
    shape: depthwise ? [k, k, spec.inChannels, 1] : [k, k, spec.inChannels, spec.outChannels],
    fanIn,
    fanOut: spec.outChannels,
    prunable: true,
    ...(spec.init ? { init: spec.init } : {}),
  };
  const out = [weight];
  if (spec.bias)
    out.push({
      name: `${spec.name}.bias`,
      module: spec.name,
      kind: 'bias',
      shape: [spec.outChannels],
      fanIn,
      fanOut: spec.outChannels,
      prunable: false,
      ...(spec.init ? { init: spec.init } : {}),
    });
  return out;
}

/** ConvTranspose2d: weight [k, k, out, in]; PyTorch's fan_in (default init bound) is out·k·k. */
export function convTransposeParams(spec: ConvTransposeSpec): ParamSpec[] {
  const k = spec.kernel;
  const fanIn = spec.outChannels * k * k;
  const common = { module: spec.name, fanIn, fanOut: spec.outChannels, prunable: false, init: 'torch' as const };
  const out: ParamSpec[] = [{ ...common, name: `${spec.name}.weight`, kind: 'conv_transpose', shape: [k, k, spec.outChannels, spec.inChannels] }];
  if (spec.bias !== false) out.push({ ...common, name: `${spec.name}.bias`, kind: 'conv_transpose_bias', shape: [spec.outChannels] });
  return out;
}

export function linearParams(spec: LinearSpec): ParamSpec[] {
  const weight: ParamSpec = {
    name: `${spec.name}.weight`,
    module: spec.name,
    kind: 'linear',
    shape: [spec.inFeatures, spec.outFeatures],
    fanIn: spec.inFeatures,
    fanOut: spec.outFeatures,
    prunable: true,
    ...(spec.init ? { init: spec.init } : {}),
  };
  const out = [weight];
  if (spec.bias !== false)
    out.push({
      name: `${spec.name}.bias`,
      module: spec.name,
      kind: 'bias',
      shape: [spec.outFeatures],
      fanIn: spec.inFeatures,
      fanOut: spec.outFeatures,
      prunable: false,
      ...(spec.init ? { init: spec.init } : {}),
    });
  return out;
}

export function batchNormParams(spec: BatchNormSpec): ParamSpec[] {
  if (!spec.affine) return [];
  const c = spec.channels;
  return [
    { name: `${spec.name}.weight`, module: spec.name, kind: 'bn_gamma', shape: [c], fanIn: c, fanOut: c, prunable: false },
    { name: `${spec.name}.bias`, module: spec.name, kind: 'bn_beta', shape: [c], fanIn: c, fanOut: c, prunable: false },
  ];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
