import { FormatError } from '../../errors';
import { readSafetensors, writeSafetensors, type StoredTensor } from '../safetensors';
import type { Minibatch, Target } from '../types';

/**
 * A drawn minibatch as one safetensors object: `inputs` F32 [B, …] (after NASLib's training
 * transform) and the target as `labels` I32 [B] (class), `labels` I32 [B, H, W] (pixel_class,
 * segmentsemantic) or `targets` F32 [B, …] (soft class distributions, dense regression targets);
 * metadata `targetKind` says which. Its sha256 is the minibatch's identity: rows record it as
 * their data sha256.
 */
export function encodeMinibatch(batch: Minibatch, metadata: Record<string, string>): Uint8Array {
  const inputs = { dtype: 'F32' as const, shape: [...batch.inputShape], data: batch.inputs };
  const t = batch.target;
  const meta = { ...metadata, targetKind: t.kind };
  switch (t.kind) {
    case 'class':
      return writeSafetensors({ inputs, labels: { dtype: 'I32', shape: [t.labels.length], data: t.labels } }, meta);
    case 'pixel_class':
      return writeSafetensors({ inputs, labels: { dtype: 'I32', shape: [...t.shape], data: t.labels } }, meta);
    case 'soft':
      return writeSafetensors({ inputs, targets: { dtype: 'F32', shape: [t.probs.length / t.classes, t.classes], data: t.probs } }, meta);
    case 'dense':
      return writeSafetensors({ inputs, targets: { dtype: 'F32', shape: [...t.shape], data: t.values } }, meta);
  }
}

/** The first `n` items of a stored tensor's first axis. */
function head(t: StoredTensor, n: number): { data: Float32Array | Int32Array; shape: number[] } {
  const per = t.data.length / t.shape[0]!;
  return { data: t.data.slice(0, n * per), shape: [n, ...t.shape.slice(1)] };
}

function targetOf(tensors: Map<string, StoredTensor>, kind: string, n: number, file: string): Target {
  const labels = tensors.get('labels');
  const targets = tensors.get('targets');
  const want = (ok: boolean, what: string) => {
    if (!ok) throw new FormatError(file, `targetKind ${kind} needs ${what}`);
  };
  if (kind === 'class' || kind === 'pixel_class') {
    want(labels?.dtype === 'I32' && labels.shape.length === (kind === 'class' ? 1 : 3), `labels I32 [B${kind === 'class' ? '' : ', H, W'}]`);
    const h = head(labels!, n);
    return kind === 'class' ? { kind, labels: h.data as Int32Array } : { kind, labels: h.data as Int32Array, shape: h.shape };
  }
  if (kind === 'soft' || kind === 'dense') {
    want(targets?.dtype === 'F32' && targets.shape.length >= 2, 'targets F32 [B, …]');
    const h = head(targets!, n);
    return kind === 'soft' ? { kind, probs: h.data as Float32Array, classes: h.shape[1]! } : { kind, values: h.data as Float32Array, shape: h.shape };
  }
  throw new FormatError(file, `targetKind ${JSON.stringify(kind)} (expected class, pixel_class, soft or dense)`);
}

/** The minibatch of an object written by encodeMinibatch, cut to its first `batchSize` samples. */
export function decodeMinibatch(bytes: Uint8Array, sha256: string, batchSize: number): Minibatch {
  const file = `minibatch ${sha256}`;
  const { tensors, metadata } = readSafetensors(bytes, file);
  const inputs = tensors.get('inputs');
  if (!inputs || inputs.dtype !== 'F32' || inputs.shape.length < 2) throw new FormatError(file, 'expected tensor inputs (F32 [B, …])');
  const stored = inputs.shape[0]!;
  // The drawn batch is a prefix of the permutation (and per-sample augmentation), so a smaller batch is its head.
  if (batchSize > stored) throw new FormatError(file, `holds ${stored} samples; the job asks for ${batchSize}`);
  const x = head(inputs, batchSize);
  return {
    inputs: x.data as Float32Array,
    inputShape: x.shape,
    // Objects written before targetKind was recorded held class labels only.
    target: targetOf(tensors, metadata.targetKind ?? 'class', batchSize, file),
    source: `minibatch:${sha256}`,
    sha256,
  };
}
