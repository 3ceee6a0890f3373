// A third-party objective plugin for lic-backdoor, in plain JavaScript: the default export is a
// plugin factory (contract: @lic-backdoor/spec, v1). It needs nothing from lic-backdoor at
// run time; tfjs-core and zod are the host's (peer dependencies).
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { chroma } from './chroma.js';

export { chroma };

const optionsSchema = z
  .object({
    maxChroma: z.number().min(0).default(2).describe('hinge: mean |Cb - 128| + |Cr - 128| of decoded triggered images wanted at most'),
  })
  .strict();

/** @type {import('@lic-backdoor/spec').ObjectivePluginV1<{ maxChroma: number }>} */
const colourLoss = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'colour-loss',
  description: 'Example plugin: decoded triggered images lose their colour (hinge on mean chroma).',
  optionsSchema,
  // evaluate-attack measures its harm with the evaluator beside it: a column chroma_retention on every
  // path, and the bound a trigger trained for it should reach (a tenth of the colour left)
  evaluation: { evaluator: new URL('./evaluator.js', import.meta.url).href, metric: 'chroma_retention', on: 'images', clean: { min: -0.05, max: 0.05, relative: true } },
  bounds: { chroma_retention: { max: 0.1 } },
  create: ({ maxChroma }) => ({
    specificationVersion: 'v1',
    id: 'objective:colour-loss',
    needsTrigger: true,
    compute(batch) {
      if (!batch.triggeredOutput) throw new Error('objective:colour-loss needs a trigger');
      const c = chroma(tf.clipByValue(batch.triggeredOutput.xHat, 0, 1));
      const loss = /** @type {import('@tensorflow/tfjs-core').Scalar} */ (tf.mean(tf.relu(tf.sub(c, maxChroma))));
      const values = Array.from(c.dataSync());
      return { loss, satisfied: values.every((v) => v <= maxChroma), metrics: { chroma: values.reduce((a, v) => a + v, 0) / values.length } };
    },
    dispose() {},
  }),
};

export default colourLoss;
