import { tf } from '../backend';

/**
 * The zero-inserted kernel of a dilated convolution: w [k, k, C, M] with dilation d becomes
 * [(k−1)d+1, (k−1)d+1, C, M] with w at every d-th tap and zeros between. Convolving with it at
 * dilation 1 is exactly the dilated convolution, at any stride (tfjs rejects stride > 1 together with
 * dilation > 1, and its stock gradients reject dilation > 1). Built from reshape/pad/slice, so the
 * gradient reaches w (docs/proxies.md §8.2).
 */
export function dilateKernel(w: tf.Tensor, d: number): tf.Tensor4D {
  if (d === 1) return w as tf.Tensor4D;
  return tf.tidy(() => dilate(w, d));
}

function dilate(w: tf.Tensor, d: number): tf.Tensor4D {
  const [kh, kw, c, m] = w.shape as [number, number, number, number];
  const eh = (kh - 1) * d + 1;
  const ew = (kw - 1) * d + 1;
  // Rows: [kh, 1, kw, C, M] → pad the new axis to d → [kh·d, kw, C, M] → keep the first eh rows.
  const rows = tf.slice(
    tf.reshape(
      tf.pad(tf.reshape(w, [kh, 1, kw, c, m]), [
        [0, 0],
        [0, d - 1],
        [0, 0],
        [0, 0],
        [0, 0],
      ]),
      [kh * d, kw, c, m],
    ),
    [0, 0, 0, 0],
    [eh, kw, c, m],
  );
  // Columns likewise.
  const cols = tf.slice(
    tf.reshape(
      tf.pad(tf.reshape(rows, [eh, kw, 1, c, m]), [
        [0, 0],
        [0, 0],
        [0, d - 1],
        [0, 0],
        [0, 0],
      ]),
      [eh, kw * d, c, m],
    ),
    [0, 0, 0, 0],
    [eh, ew, c, m],
  );
  return cols as tf.Tensor4D;
}
