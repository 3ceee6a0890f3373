import * as tf from '@tensorflow/tfjs-core';
import { blockIdct, frequencyBand, JPEG_RGB_MATRIX } from '@lic-backdoor/transforms';

/** Which coefficients of an n x n block a frequency trigger may touch (zig-zag ranks [from, to)). */
export interface FrequencyBandOptions {
  blockSize: number;
  fromRank: number;
  toRank: number;
}

/** [count, n*n] one-hot rows: row k selects the k-th coefficient of the band (row-major u*n+v). */
export function bandSelection({ blockSize, fromRank, toRank }: FrequencyBandOptions): tf.Tensor2D {
  const band = frequencyBand(blockSize, fromRank, toRank);
  const sel = new Float32Array(band.length * blockSize * blockSize);
  band.forEach((index, k) => (sel[k * blockSize * blockSize + index] = 1));
  return tf.tensor2d(sel, [band.length, blockSize * blockSize]);
}

/**
 * Adds a DCT-domain trigger to RGB images in [0, 1]: in JPEG YCbCr (0-255, centred), the
 * coefficient of band position k in channel c of block (i, j) grows by
 * `weight[b, i, j, c] * pattern[b, c, k]`; then inverse DCT, back to RGB, clamp to [0, 1].
 * Because the DCT and the colour transform are linear, this equals transforming the image,
 * adding and transforming back, but only the added coefficients go through the inverse DCT.
 * `weight` is [B, H/n, W/n, 3], `pattern` [B, 3, count]; H and W are padded to multiples of n.
 */
export function addFrequencyTrigger(x: tf.Tensor4D, weight: tf.Tensor4D, pattern: tf.Tensor3D, selection: tf.Tensor2D, n: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w] = x.shape;
    const hb = Math.ceil(h / n);
    const wb = Math.ceil(w / n);
    const [, count] = selection.shape;
    const coefficients = tf.reshape(tf.matMul(tf.reshape(pattern, [b * 3, pattern.shape[2]]), selection), [b, 3, count]);
    const perBlock = tf.mul(tf.reshape(weight, [b, hb, wb, 1, 3]), tf.reshape(tf.transpose(coefficients, [0, 2, 1]), [b, 1, 1, count, 3]));
    const residualYcc = tf.slice(blockIdct(perBlock, n), [0, 0, 0, 0], [b, h, w, 3]);
    const toRgb = tf.tensor2d(JPEG_RGB_MATRIX.flat(), [3, 3]);
    const residualRgb = tf.reshape(tf.matMul(tf.reshape(residualYcc, [-1, 3]), toRgb, false, true), [b, h, w, 3]);
    return tf.clipByValue(tf.add(x, tf.div(residualRgb, 255)), 0, 1) as tf.Tensor4D;
  });
}

/** Pads [B, H, W, C] at the bottom and right with edge values up to multiples of n. */
export function padToBlocks(x: tf.Tensor4D, n: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  const ph = (n - (h % n)) % n;
  const pw = (n - (w % n)) % n;
  if (!ph && !pw) return tf.clone(x);
  return tf.tidy(() => {
    let y: tf.Tensor4D = x;
    if (ph) y = tf.concat([y, tf.tile(tf.slice(y, [0, h - 1, 0, 0], [-1, 1, -1, -1]), [1, ph, 1, 1])], 1);
    if (pw) y = tf.concat([y, tf.tile(tf.slice(y, [0, 0, w - 1, 0], [-1, -1, 1, -1]), [1, 1, pw, 1])], 2);
    return y;
  });
}
