import { InputError } from '../../../errors';
import { TASKONOMY_TASKS } from '../../names';
import type { NetworkDef, Ops } from '../../nn/ops';
import { convParams, type ParamSpec } from '../../nn/params';
import type { TaskSpec } from '../../tasks';

/**
 * The TransNAS-Bench-101 model around an encoder (NASLib, branch zerocost, tnb101/model_builder.py
 * and models/*), shared by the micro and macro spaces: stem, task heads and decoders.
 * docs/search-spaces.md §4.2, §4.3; docs/tasks.md §4 (zen's Φ).
 */

/** relu ; conv(k, s, (k−1)/2, no bias) ; bn (affine): TNB's ReLUConvBN (`…ops.0/1/2`). One segment (at 256×256, bigger ones do not fit). */
export function reluConvBn<T>(outer: Ops<T>, input: T, name: string, cin: number, cout: number, k: number, stride: number): T {
  return outer.segment(name, [input], (ops, [x]) => reluConvBnOps(ops, x!, name, cin, cout, k, stride));
}

function reluConvBnOps<T>(ops: Ops<T>, x: T, name: string, cin: number, cout: number, k: number, stride: number): T {
  const a = ops.relu(x, `${name}.ops.0`);
  const c = ops.conv(a, { name: `${name}.ops.1`, inChannels: cin, outChannels: cout, kernel: k, stride, padding: (k - 1) / 2 });
  return ops.batchNorm(c, { name: `${name}.ops.2`, channels: cout, affine: true });
}

export const TNB_BASE_CHANNELS = 64;

/** MacroNet's stem: conv(3, 2, 1: c_in→32) ; bn(32) ; ReLUConvBN(3, 2: 32→64). Output H/4. */
export function tnbStem<T>(ops: Ops<T>, x: T, cin: number): T {
  const half = TNB_BASE_CHANNELS / 2;
  const y = ops.segment('encoder.stem.0', [x], (o, [input]) => {
    const c = o.conv(input!, { name: 'encoder.stem.0', inChannels: cin, outChannels: half, kernel: 3, stride: 2, padding: 1 });
    return o.batchNorm(c, { name: 'encoder.stem.1', channels: half, affine: true });
  });
  return reluConvBn(ops, y, 'encoder.stem.2', half, TNB_BASE_CHANNELS, 3, 2);
}

/** An encoder as the task heads see it. */
export interface TnbEncoder {
  /** Output channels C_f. */
  channels: number;
  /** Number of stride-2 layers after the stem (u depends on it). */
  strideLayers: number;
  forward<T>(ops: Ops<T>, x: T): T;
}

/**
 * Number of ×2 upsamplings of the decoders: the builder assumes a 224 input, so the encoder width it
 * plans for is w' = 56 halved (integer division) once per stride layer, and u = ⌊log₂(256 / w')⌋.
 */
export function upsamplings(strideLayers: number): number {
  let w = 56;
  for (let i = 0; i < strideLayers; i++) w = Math.floor(w / 2);
  return Math.floor(Math.log2(256 / w));
}

/** Decoder conv (bias) → BN → leaky ReLU 0.2: TNB's ConvLayer; PyTorch default init. One segment. */
function convLayer<T>(outer: Ops<T>, input: T, name: string, cin: number, cout: number): T {
  return outer.segment(name, [input], (ops, [x]) => convLayerOps(ops, x!, name, cin, cout));
}

function convLayerOps<T>(ops: Ops<T>, x: T, name: string, cin: number, cout: number): T {
  const c = ops.conv(x, { name: `${name}.conv`, inChannels: cin, outChannels: cout, kernel: 3, padding: 1, bias: true, init: 'torch' });
  const b = ops.batchNorm(c, { name: `${name}.norm`, channels: cout, affine: true });
  return ops.leakyRelu(b, `${name}.activation`, 0.2);
}

/** Transposed conv (k3, s2, p1, output_padding 1: exactly 2H×2W, bias) → BN → leaky ReLU 0.2: TNB's DeconvLayer. One segment. */
function deconvLayer<T>(outer: Ops<T>, input: T, name: string, cin: number, cout: number): T {
  return outer.segment(name, [input], (ops, [x]) => deconvLayerOps(ops, x!, name, cin, cout));
}

function deconvLayerOps<T>(ops: Ops<T>, x: T, name: string, cin: number, cout: number): T {
  const c = ops.convTranspose(x, { name: `${name}.conv`, inChannels: cin, outChannels: cout, kernel: 3, stride: 2, padding: 1, outputPadding: 1, bias: true });
  const b = ops.batchNorm(c, { name: `${name}.norm`, channels: cout, affine: true });
  return ops.leakyRelu(b, `${name}.activation`, 0.2);
}

/** SegmentationDecoder: convL(C_f→1024), (6−u) halving convL, (u−1) halving upL, upL(c→c), conv → classes. */
function segmentationDecoder<T>(ops: Ops<T>, x: T, cf: number, u: number, classes: number): T {
  let i = 0;
  let c = 1024;
  x = convLayer(ops, x, `decoder.model.${i++}`, cf, c);
  for (let k = 0; k < 6 - u; k++, c /= 2) x = convLayer(ops, x, `decoder.model.${i++}`, c, c / 2);
  for (let k = 0; k < u - 1; k++, c /= 2) x = deconvLayer(ops, x, `decoder.model.${i++}`, c, c / 2);
  x = deconvLayer(ops, x, `decoder.model.${i++}`, c, c);
  x = ops.feature(x); // zen's Φ: the input of the last decoder conv
  return ops.conv(x, { name: `decoder.model.${i}.conv`, inChannels: c, outChannels: classes, kernel: 3, padding: 1, bias: true, init: 'torch' });
}

/** GenerativeDecoder (the pix2pix generator): conv1 … conv13, then conv14 → tanh. */
function generativeDecoder<T>(ops: Ops<T>, x: T, cf: number, u: number, outChannels: number): T {
  const layer = (k: number, cin: number, cout: number, up: boolean) =>
    (x = up ? deconvLayer(ops, x, `decoder.conv${k}`, cin, cout) : convLayer(ops, x, `decoder.conv${k}`, cin, cout));
  layer(1, cf, 1024, false);
  layer(2, 1024, 1024, false);
  layer(3, 1024, 512, u === 6);
  layer(4, 512, 512, false);
  layer(5, 512, 256, u >= 5);
  layer(6, 256, 128, false);
  layer(7, 128, 64, u >= 4);
  layer(8, 64, 64, false);
  layer(9, 64, 32, u >= 3);
  layer(10, 32, 32, false);
  layer(11, 32, 16, true);
  layer(12, 16, 32, false);
  layer(13, 32, 16, true);
  x = ops.feature(x); // zen's Φ: the input of conv14
  const out = ops.conv(x, { name: 'decoder.conv14.conv', inChannels: 16, outChannels: outChannels, kernel: 3, padding: 1, bias: true, init: 'torch' });
  return ops.tanh(out, 'decoder.conv14.activation');
}

/**
 * The pix2pix discriminator that the autoencoder/normal models build but never run: 7 convs with
 * bias (spectral norm on the first six, whose `weight` is the raw initial weight until a forward
 * runs). In 𝒫 (l2_norm), not in params/flops.
 */
export function discriminatorParams(): ParamSpec[] {
  const layers: Array<[number, number, number]> = [
    [6, 64, 5],
    [64, 128, 5],
    [128, 256, 5],
    [256, 256, 3],
    [256, 512, 3],
    [512, 512, 3],
    [512, 1, 3],
  ];
  return layers.flatMap(([cin, cout, k], i) =>
    convParams({ name: `discriminator.conv${i + 1}.conv`, inChannels: cin, outChannels: cout, kernel: k, bias: true, init: 'torch' }),
  );
}

/** The Taskonomy network of one task around `encoder` (TNB init: He fan-out encoder, PyTorch default heads). */
export function taskonomyNetwork(encoder: TnbEncoder, task: TaskSpec, space: string): NetworkDef {
  const decoder = task.taskonomy?.decoder;
  if (!decoder) throw new InputError('task', task.name, `a Taskonomy task of ${space}: ${TASKONOMY_TASKS.join(', ')}`);
  const cf = encoder.channels;
  const u = upsamplings(encoder.strideLayers);
  if (task.inputShape[2] !== 3) throw new InputError('task', task.name, 'a Taskonomy task with RGB input');
  const K = task.outputs;
  const def: NetworkDef = {
    init: 'tnb',
    inputShape: task.tiles ? [task.tiles, ...task.inputShape] : task.inputShape,
    outputs: K,
    forward<T>(ops: Ops<T>, x: T): T {
      switch (decoder) {
        case 'tiles': {
          // The same encoder on each tile separately (BN statistics per tile position), tile 0 first.
          const parts: T[] = [];
          for (let i = 0; i < task.tiles!; i++) parts.push(encoder.forward(ops, ops.tile(x, i)));
          const features = ops.feature(ops.concat(parts));
          const pooled = ops.globalAvgPool(features, 'decoder.avgpool');
          return ops.linear(pooled, { name: 'decoder.fc', inFeatures: task.tiles! * cf, outFeatures: K });
        }
        case 'segmentation':
          return segmentationDecoder(ops, encoder.forward(ops, x), cf, u, K);
        case 'generative':
          return generativeDecoder(ops, encoder.forward(ops, x), cf, u, K);
        case 'pooled': {
          const features = ops.feature(encoder.forward(ops, x));
          const pooled = ops.globalAvgPool(features, 'decoder.avgpool');
          return ops.linear(pooled, { name: 'decoder.fc', inFeatures: cf, outFeatures: K });
        }
      }
    },
  };
  // TNB's GAN models build their discriminator but never run it.
  if (decoder === 'generative') def.unusedParams = discriminatorParams();
  return def;
}
