import * as tf from '@tensorflow/tfjs-core';

/** JPEG (JFIF) full-range RGB -> YCbCr matrix, rows Y, Cb, Cr, on 0-255 values. */
export const JPEG_YCBCR_MATRIX: readonly (readonly number[])[] = [
  [0.299, 0.587, 0.114],
  [-0.168736, -0.331264, 0.5],
  [0.5, -0.418688, -0.081312],
];

function invert3(m: readonly (readonly number[])[]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m as [[number, number, number], [number, number, number], [number, number, number]];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

/** Exact inverse of `JPEG_YCBCR_MATRIX` (not the rounded JFIF constants), so round trips are exact. */
export const JPEG_RGB_MATRIX: readonly (readonly number[])[] = invert3(JPEG_YCBCR_MATRIX);

function applyColourMatrix(x: tf.Tensor, m: readonly (readonly number[])[], scale: number, before: number[], after: number[]): tf.Tensor {
  const shape = x.shape;
  if (shape[shape.length - 1] !== 3) throw new RangeError(`expected 3 channels last, got shape [${shape.join(', ')}]`);
  return tf.tidy(() => {
    const flat = tf.sub(tf.reshape(x, [-1, 3]), tf.tensor1d(before));
    const mt = tf.transpose(tf.tensor2d(m.flat(), [3, 3]));
    return tf.reshape(tf.add(tf.mul(tf.matMul(flat, mt), scale), tf.tensor1d(after)), shape);
  });
}

/**
 * RGB in [0, 1] (channels last) -> JPEG full-range YCbCr on 0-255 values. With `centered`, every
 * channel is shifted by -128 (Y - 128, Cb - 128, Cr - 128), the values JPEG's DCT sees.
 */
export function rgbToYcbcr(rgb: tf.Tensor, options: { centered?: boolean } = {}): tf.Tensor {
  const shift = options.centered ? [-128, 0, 0] : [0, 128, 128];
  return applyColourMatrix(rgb, JPEG_YCBCR_MATRIX, 255, [0, 0, 0], shift);
}

/** Inverse of `rgbToYcbcr` (same `centered` option); returns RGB in [0, 1], not clamped. */
export function ycbcrToRgb(ycbcr: tf.Tensor, options: { centered?: boolean } = {}): tf.Tensor {
  const shift = options.centered ? [-128, 0, 0] : [0, 128, 128];
  return applyColourMatrix(ycbcr, JPEG_RGB_MATRIX, 1 / 255, shift, [0, 0, 0]);
}
