import * as tf from '@tensorflow/tfjs-core';
import { lowerBound } from './lower-bound.js';

const PEDESTAL = 2 ** -36;

/**
 * CompressAI's NonNegativeParametrizer: a stored parameter p stands for max(p, sqrt(min + pedestal))^2
 * - pedestal, which is >= min and has useful gradients near zero.
 */
export function nonNegative(stored: tf.Tensor, minimum = 0): tf.Tensor {
  return tf.sub(tf.square(lowerBound(stored, Math.sqrt(minimum + PEDESTAL))), PEDESTAL);
}

/** Inverse of `nonNegative` on values >= minimum: what to store to represent `value`. */
export function nonNegativeInit(value: tf.Tensor): tf.Tensor {
  return tf.sqrt(tf.maximum(tf.add(value, PEDESTAL), PEDESTAL));
}

export const GDN_BETA_MIN = 1e-6;

/**
 * 1 / sqrt(x) whose gradient is -dy s^3 / 2 from the saved output s: tfjs differentiates rsqrt
 * with pow(x, 1.5), which on wasm costs about as much as the layer's matMul.
 */
const rsqrt = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const s = tf.rsqrt(x);
  save([s]);
  return { value: s, gradFunc: (dy, [saved]) => tf.mul(dy, tf.mul(tf.mul(saved!, tf.square(saved!)), -0.5)) };
}) as (x: tf.Tensor) => tf.Tensor;

/** The buffers CompressAI keeps beside a GDN's beta and gamma, by state_dict suffix. */
export function gdnBuffers(): Record<string, number> {
  return {
    'beta_reparam.pedestal': PEDESTAL,
    'beta_reparam.lower_bound.bound': Math.sqrt(GDN_BETA_MIN + PEDESTAL),
    'gamma_reparam.pedestal': PEDESTAL,
    'gamma_reparam.lower_bound.bound': Math.sqrt(PEDESTAL),
  };
}

/** Trainable parameters of a GDN layer, stored reparametrized as CompressAI stores them. */
export interface GdnParams {
  /** [C] stored beta. */
  beta: tf.Variable;
  /** [C, C] stored gamma, [out, in] as in CompressAI. */
  gamma: tf.Variable;
  /** State-dict prefix, e.g. `g_a.1`. */
  name: string;
}

export function createGdn(channels: number, name: string): GdnParams {
  return tf.tidy(() => ({
    beta: tf.variable(nonNegativeInit(tf.ones([channels])), true),
    gamma: tf.variable(nonNegativeInit(tf.mul(tf.eye(channels), 0.1)), true),
    name,
  }));
}

/**
 * Generalized divisive normalization (Ballé et al. 2016) on NHWC input:
 * y_c = x_c / sqrt(beta_c + sum_j gamma_cj x_j^2), or x_c * sqrt(...) when `inverse`.
 */
export function gdn(x: tf.Tensor4D, p: GdnParams, inverse: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const beta = nonNegative(p.beta, GDN_BETA_MIN);
    const gammaT = tf.transpose(nonNegative(p.gamma));
    const norm = tf.add(tf.matMul(tf.reshape(tf.square(x), [-1, c]), gammaT), beta);
    const scale = inverse ? tf.sqrt(norm) : rsqrt(norm);
    return tf.mul(x, tf.reshape(scale, x.shape)) as tf.Tensor4D;
  });
}
