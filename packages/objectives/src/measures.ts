import * as tf from '@tensorflow/tfjs-core';

/** Per-example bits per pixel, [B]. */
export function bitsPerPixelPerExample(likelihoods: Record<string, tf.Tensor>, pixels: number): tf.Tensor1D {
  return tf.tidy(() => {
    const perLatent = Object.values(likelihoods).map((l) => tf.sum(tf.reshape(tf.neg(tf.log(l)), [l.shape[0]!, -1]), 1));
    return tf.div(tf.addN(perLatent), pixels * Math.LN2) as tf.Tensor1D;
  });
}

/** Mean squared error per example, [B]. */
export function msePerExample(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => tf.mean(tf.reshape(tf.square(tf.sub(a, b)), [a.shape[0], -1]), 1) as tf.Tensor1D);
}

/** PSNR in dB per example of images in [0, 1], [B] (differentiable; the MSE floored at 1e-10). */
export function psnrPerExample(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor1D {
  return tf.mul(tf.log(tf.maximum(msePerExample(a, b), 1e-10)), -10 / Math.LN10) as tf.Tensor1D;
}

/** PSNR in dB of images in [0, 1] from a mean squared error. */
export function psnrOf(mse: number): number {
  return 10 * Math.log10(1 / Math.max(mse, 1e-12));
}

/** A copy of `t` that gradients do not flow through (the tape is cut by copying the values). */
export function detach<T extends tf.Tensor>(t: T): T {
  return tf.tensor(t.dataSync(), t.shape, t.dtype) as T;
}

/** 1 for examples of `source` (all when the batch does not say), else 0. */
export function sourceMask(sources: readonly string[] | undefined, batch: number, source: string | undefined): number[] {
  return Array.from({ length: batch }, (_, i): number => (!source || !sources || sources[i] === source ? 1 : 0));
}

/** Mean of per-example values (plain numbers). */
export function mean(values: ArrayLike<number>): number {
  return Array.from(values).reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
}
