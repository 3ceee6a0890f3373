import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@lic-backdoor/core';

/** A 5x5 (or k x k) stride-2 convolution or transposed convolution with bias, PyTorch-initialised. */
export interface ConvParams {
  /** conv: [k, k, in, out]; transposed: [k, k, out, in] (tfjs layouts). */
  weight: tf.Variable;
  bias: tf.Variable;
  transposed: boolean;
  stride: number;
  /** State-dict prefix, e.g. `g_a.0`. */
  name: string;
}

/**
 * PyTorch's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases,
 * with fan_in = in*k*k for a conv and out*k*k for a transposed conv (PyTorch's dim-1 rule).
 */
export function createConv(rng: Rng, cin: number, cout: number, k: number, stride: number, transposed: boolean, name: string): ConvParams {
  const fanIn = (transposed ? cout : cin) * k * k;
  const bound = 1 / Math.sqrt(fanIn);
  const shape: [number, number, number, number] = transposed ? [k, k, cout, cin] : [k, k, cin, cout];
  return {
    weight: tf.variable(tf.tensor4d(rng.uniformArray(k * k * cin * cout, -bound, bound), shape), true),
    bias: tf.variable(tf.tensor1d(rng.uniformArray(cout, -bound, bound)), true),
    transposed,
    stride,
    name,
  };
}

/**
 * CompressAI's conv (padding k/2) and deconv (padding k/2, output padding stride-1): output size
 * H/stride and H*stride exactly.
 */
export function applyConv(x: tf.Tensor4D, p: ConvParams): tf.Tensor4D {
  return tf.tidy(() => {
    const k = p.weight.shape[0]!;
    const pad = Math.floor(k / 2);
    if (!p.transposed) return tf.add(tf.conv2d(x, p.weight as tf.Tensor4D, p.stride, pad), p.bias) as tf.Tensor4D;
    const [n, h, w] = x.shape;
    const out = p.weight.shape[2]!;
    return tf.add(tf.conv2dTranspose(x, p.weight as tf.Tensor4D, [n, h * p.stride, w * p.stride, out], p.stride, pad), p.bias) as tf.Tensor4D;
  });
}
