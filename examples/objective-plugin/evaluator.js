// The evaluator that measures the colour-loss objective's harm (what evaluate-attack puts in the
// effect matrix for it): how much of the original's chroma a decoding keeps. A plugin factory of
// kind evaluator (contract: @lic-backdoor/spec, v1), loaded by the objective's `evaluation`.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { chroma } from './chroma.js';

/** @type {import('@lic-backdoor/spec').EvaluatorPluginV1<Record<string, never>>} */
const chromaRetention = {
  specificationVersion: 'v1',
  kind: 'evaluator',
  name: 'chroma-retention',
  description: 'Example plugin: share of the original images\' chroma that their decodings keep.',
  // evaluate-attack passes `calibration` to evaluators measured on the face set; this one runs on images
  optionsSchema: z.object({}).strict(),
  create: () => ({
    specificationVersion: 'v1',
    id: 'evaluator:chroma-retention',
    async evaluate(original, decoded) {
      let sum = 0;
      for (let i = 0; i < original.length; i++) {
        const [a, b] = tf.tidy(() => [chroma(original[i]).dataSync()[0], chroma(tf.clipByValue(decoded[i], 0, 1)).dataSync()[0]]);
        sum += b / Math.max(a, 1e-3);
      }
      return {
        chroma_retention: { value: sum / original.length, unit: 'ratio', definition: 'mean over pairs of chroma(decoded) / chroma(original), chroma = mean |Cb - 128| + |Cr - 128| on 0-255 (JPEG YCbCr)' },
      };
    },
    dispose() {},
  }),
};

export default chromaRetention;
