import { tf } from '../backend';
import type { Passes } from '../passes/passes';

/**
 * Σ over prunable layers of a per-layer float reduction of (W_l, g_l). Each layer's sum is a tfjs
 * float32 reduction, as NASLib's per-layer torch sums are; the layers are added in float64.
 */
export function sumOverLayers(
  passes: Passes,
  perLayer: (w: tf.Tensor, g: tf.Tensor | null) => tf.Tensor,
  grads: Map<string, tf.Tensor> | null,
  layers = passes.prunableParams,
): number {
  let total = 0;
  for (const p of layers) {
    const w = passes.weights.get(p.name)!;
    const g = grads ? grads.get(p.name)! : null;
    total += tf.tidy(() => perLayer(w, g).dataSync()[0]!);
  }
  return total;
}
