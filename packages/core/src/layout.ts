import * as tf from '@tensorflow/tfjs-core';

/**
 * Conversions between PyTorch weight layouts (as CompressAI's state_dicts hold them) and tfjs
 * layouts. Conv2d: PyTorch [out, in, kh, kw] (OIHW) <-> tfjs conv2d filter [kh, kw, in, out]
 * (HWIO). ConvTranspose2d: PyTorch [in, out, kh, kw] (IOHW) <-> tfjs conv2dTranspose filter
 * [kh, kw, out, in]; both are the same permutation, [2, 3, 1, 0].
 */
export function oihwToHwio(weight: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(weight, [2, 3, 1, 0]);
}

/** Inverse of `oihwToHwio`: tfjs [kh, kw, in, out] -> PyTorch [out, in, kh, kw]. */
export function hwioToOihw(weight: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(weight, [3, 2, 0, 1]);
}

/** Permutes a raw row-major 4-D array: out[...] = in[...] with axes reordered by `perm`. */
export function permute4d<T extends Float32Array | Int32Array>(data: T, shape: readonly number[], perm: readonly number[]): { data: T; shape: number[] } {
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const strides = perm.map((p) => inStrides[p]!);
  const out = new (data.constructor as new (n: number) => T)(data.length);
  let k = 0;
  for (let a = 0; a < outShape[0]!; a++)
    for (let b = 0; b < outShape[1]!; b++)
      for (let c = 0; c < outShape[2]!; c++)
        for (let d = 0; d < outShape[3]!; d++) out[k++] = data[a * strides[0]! + b * strides[1]! + c * strides[2]! + d * strides[3]!]!;
  return { data: out, shape: outShape };
}
