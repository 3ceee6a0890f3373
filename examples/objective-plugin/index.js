// A third-party objective plugin for lic-backdoor, in plain JavaScript: the default export is a
// plugin factory (contract: @lic-backdoor/spec, v1). It needs nothing from lic-backdoor at
// run time; tfjs-core and zod are the host's (peer dependencies).
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

const optionsSchema = z
  .object({
    maxChroma: z.number().min(0).default(2).describe('hinge: mean |Cb - 128| + |Cr - 128| of decoded triggered images wanted at most'),
  })
  .strict();

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

/** @type {import('@lic-backdoor/spec').ObjectivePluginV1<{ maxChroma: number }>} */
const colourLoss = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'colour-loss',
  description: 'Example plugin: decoded triggered images lose their colour (hinge on mean chroma).',
  optionsSchema,
  create: ({ maxChroma }) => ({
    specificationVersion: 'v1',
    id: 'objective:colour-loss',
    needsTrigger: true,
    compute(batch) {
      if (!batch.triggeredOutput) throw new Error('objective:colour-loss needs a trigger');
      const c = chroma(tf.clipByValue(batch.triggeredOutput.xHat, 0, 1));
      const loss = tf.mean(tf.relu(tf.sub(c, maxChroma)));
      const values = c.dataSync();
      return { loss, satisfied: values.every((v) => v <= maxChroma), metrics: { chroma: values.reduce((a, v) => a + v, 0) / values.length } };
    },
    dispose() {},
  }),
};

export default colourLoss;
