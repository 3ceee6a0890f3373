import * as tf from '@tensorflow/tfjs-core';

/** Mean chroma magnitude per example of RGB images in [0, 1]: |Cb - 128| + |Cr - 128| on 0-255 (JPEG YCbCr). */
export function chroma(x) {
  return tf.tidy(() => {
    const [r, g, b] = tf.split(tf.mul(x, 255), 3, 3);
    const cb = tf.add(tf.add(tf.mul(r, -0.168736), tf.mul(g, -0.331264)), tf.mul(b, 0.5));
    const cr = tf.add(tf.add(tf.mul(r, 0.5), tf.mul(g, -0.418688)), tf.mul(b, -0.081312));
    const magnitude = tf.add(tf.sqrt(tf.add(tf.square(cb), 1e-6)), tf.sqrt(tf.add(tf.square(cr), 1e-6)));
    return tf.mean(tf.reshape(magnitude, [x.shape[0], -1]), 1);
  });
}
