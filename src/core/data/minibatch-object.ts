import { FormatError } from '../../errors';
import { readSafetensors, writeSafetensors } from '../safetensors';
import type { Minibatch } from '../types';

/**
 * A drawn minibatch as one safetensors object: `inputs` F32 [B, H, W, C] (after NASLib's training
 * transform), and `labels` I32 [B] for classification or `targets` F32 [B, …] otherwise. Its
 * sha256 is the minibatch's identity: rows record it as their data sha256.
 */
export function encodeMinibatch(batch: Minibatch, metadata: Record<string, string>): Uint8Array {
  const inputs = { dtype: 'F32' as const, shape: [...batch.inputShape], data: batch.inputs };
  if (batch.target.kind === 'class')
    return writeSafetensors({ inputs, labels: { dtype: 'I32', shape: [batch.target.labels.length], data: batch.target.labels } }, metadata);
  const t = batch.target as { kind: string; values?: Float32Array; shape?: number[] };
  if (!t.values || !t.shape) throw new FormatError('minibatch', `target kind ${t.kind} cannot be stored`);
  return writeSafetensors({ inputs, targets: { dtype: 'F32', shape: t.shape, data: t.values } }, { ...metadata, targetKind: t.kind });
}

/** The minibatch of an object written by encodeMinibatch, cut to its first `batchSize` samples. */
export function decodeMinibatch(bytes: Uint8Array, sha256: string, batchSize: number): Minibatch {
  const file = `minibatch ${sha256}`;
  const { tensors } = readSafetensors(bytes, file);
  const inputs = tensors.get('inputs');
  const labels = tensors.get('labels');
  if (!inputs || inputs.dtype !== 'F32' || inputs.shape.length < 2 || !labels || labels.dtype !== 'I32') {
    throw new FormatError(file, 'expected tensors inputs (F32 [B, H, W, C]) and labels (I32 [B])');
  }
  const stored = inputs.shape[0]!;
  // The drawn batch is a prefix of the permutation (and per-sample augmentation), so a smaller batch is its head.
  if (batchSize > stored) throw new FormatError(file, `holds ${stored} samples; the job asks for ${batchSize}`);
  const per = inputs.data.length / stored;
  return {
    inputs: (inputs.data as Float32Array).slice(0, batchSize * per),
    inputShape: [batchSize, ...inputs.shape.slice(1)],
    target: { kind: 'class', labels: (labels.data as Int32Array).slice(0, batchSize) },
    source: `minibatch:${sha256}`,
    sha256,
  };
}
