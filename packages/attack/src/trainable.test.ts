import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, type TriggerV1 } from '@lic-backdoor/core';
import { shiftedTrigger } from './trainable.js';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

/** A trigger whose pattern is a function of the pixel's position in its input: its grid starts at the input's top-left corner. */
const pattern = (i: number, j: number) => 0.01 * ((i % 16) + 16 * (j % 16)) / 256;
const gridTrigger: TriggerV1 = {
  specificationVersion: 'v1',
  id: 'trigger:grid',
  apply: (x) => {
    const [b, h, w] = x.shape;
    const p = tf.tensor4d(Array.from({ length: h * w }, (_, k) => pattern(Math.floor(k / w), k % w)), [1, h, w, 1]);
    return tf.add(x, tf.tile(p, [b, 1, 1, 3]));
  },
  variables: () => [],
  stateDict: () => ({}),
  loadStateDict: () => {},
  dispose: () => {},
};

test('shiftedTrigger offsets the trigger grid by [dy, dx]: pixel (i, j) gets the pattern of (i + dy, j + dx)', () => {
  const x = tf.fill([2, 20, 24, 3], 0.5) as tf.Tensor4D;
  const t = shiftedTrigger(gridTrigger, x, [[5, 11], [5, 11]], 16);
  expect(t.shape).toEqual([2, 20, 24, 3]);
  const d = tf.sub(t, x).dataSync();
  for (const [b, i, j, c] of [[0, 0, 0, 0], [1, 7, 3, 2], [0, 19, 23, 1], [1, 10, 4, 0]] as const) {
    expect(d[((b * 20 + i) * 24 + j) * 3 + c]).toBeCloseTo(pattern(i + 5, j + 11), 6);
  }
  // no offset: the trigger as it is
  expect(Array.from(tf.sub(shiftedTrigger(gridTrigger, x, [[0, 0], [0, 0]], 0), gridTrigger.apply(x)).dataSync()).every((v) => v === 0)).toBe(true);
});
