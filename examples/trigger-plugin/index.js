// A third-party trigger plugin for lic-backdoor, in plain JavaScript: the default export is a
// plugin factory (contract: @lic-backdoor/spec, v1, TriggerV1). It needs nothing from
// lic-backdoor at run time; tfjs-core and zod are the host's (peer dependencies).
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

const optionsSchema = z
  .object({
    period: z.number().int().min(2).default(8).describe('side of one checkerboard square, in pixels'),
    amplitude: z.number().positive().default(2).describe('starting amplitude per channel, on 0-255'),
  })
  .strict();

/** A [1, H, W, 1] checkerboard of +1 and -1 with squares of `period` pixels. */
export function checkerboard(height, width, period) {
  return tf.tidy(() => {
    const rows = tf.floorDiv(tf.range(0, height, 1, 'int32'), period);
    const cols = tf.floorDiv(tf.range(0, width, 1, 'int32'), period);
    const parity = tf.mod(tf.add(tf.reshape(rows, [height, 1]), tf.reshape(cols, [1, width])), 2);
    return tf.reshape(tf.sub(tf.mul(tf.cast(parity, 'float32'), 2), 1), [1, height, width, 1]);
  });
}

/** @type {import('@lic-backdoor/spec').TriggerPluginV1<{ period: number; amplitude: number }>} */
const checkerboardTrigger = {
  specificationVersion: 'v1',
  kind: 'trigger',
  name: 'checkerboard',
  description: 'Example plugin: x + a x checkerboard, with a learned amplitude a per RGB channel.',
  optionsSchema,
  create: ({ period, amplitude }) => {
    const scale = tf.variable(tf.fill([3], amplitude / 255), true, `checkerboard-${Math.random().toString(36).slice(2)}`);
    return {
      specificationVersion: 'v1',
      id: 'trigger:checkerboard',
      apply: (x) => /** @type {import('@tensorflow/tfjs-core').Tensor4D} */ (tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(checkerboard(x.shape[1], x.shape[2], period), scale)), 0, 1))),
      variables: () => [scale],
      stateDict: () => ({ scale: scale.clone() }),
      loadStateDict(state) {
        const s = state.scale;
        if (!s || s.shape.join() !== '3') throw new Error("checkerboard: state lacks 'scale' of shape [3]");
        scale.assign(s);
      },
      dispose: () => scale.dispose(),
    };
  },
};

export default checkerboardTrigger;
