import * as tf from '@tensorflow/tfjs-core';

/**
 * max(x, bound) whose gradient still flows where x < bound if it pushes x up (CompressAI's
 * LowerBound), so that parameters stuck at the bound can leave it.
 */
export function lowerBound(x: tf.Tensor, bound: number): tf.Tensor {
  const f = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input]);
    return {
      value: tf.maximum(input, bound),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const pass = tf.logicalOr(tf.greaterEqual(saved[0]!, bound), tf.less(dy, 0));
        return tf.mul(dy, tf.cast(pass, 'float32'));
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}

/** The identity whose gradient is zero (tfjs has no stop_gradient op). */
export function stopGradient(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad(((input: tf.Tensor) => ({
    value: tf.clone(input),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}
