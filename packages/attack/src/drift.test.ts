import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage } from '@lic-backdoor/core';
import { learnedCodec, readStateDict, withEncoder } from '@lic-backdoor/codecs';
import { cleanDrift } from './drift.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const models = join(root, 'models');

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

test('cleanDrift: no drift through the same encoder; the shipped mbt backdoor splits its extra clean bits into y and z, and the estimate is near the real stream', async () => {
  const { state } = await readStateDict(join(models, 'training', 'mbt-n128-l0013', 'model.safetensors'));
  const { state: encoder } = await readStateDict(join(models, 'attacks', 'mbt-4triggers-ft6', 'encoder.safetensors'));
  const original = learnedCodec('mbt2018-mean', state);
  const backdoored = learnedCodec('mbt2018-mean', withEncoder(state, encoder));
  // a 96 x 160 crop of kodim23: padded to 128 x 192 as the codec pads it
  const full = await readImage(join(root, '..', 'shared', 'data', 'kodak', 'kodim23.png'));
  const x = tf.slice(full, [0, 200, 300, 0], [1, 96, 160, 3]) as tf.Tensor4D;
  full.dispose();

  const same = cleanDrift(original, original, x);
  expect(same.yDrift).toBe(0);
  expect(same.zDrift).toBe(0);
  for (const v of [same.backdoored, same.yOnly, same.zOnly]) expect(v).toBeCloseTo(same.bpp, 10);
  // the estimate approaches what the rANS coder writes (the container's header and stream lengths aside)
  const real = ((await original.compress(x)).bytes.length * 8) / (96 * 160);
  expect(Math.abs(same.bpp - real) / real).toBeLessThan(0.1);

  const d = cleanDrift(original, backdoored, x);
  expect(d.yDrift).toBeGreaterThan(0);
  expect(d.zDrift).toBeGreaterThan(0);
  expect(d.backdoored).not.toBeCloseTo(d.bpp, 3);
  // each partial swap differs from both ends
  expect(d.yOnly).not.toBeCloseTo(d.backdoored, 4);
  expect(d.zOnly).not.toBeCloseTo(d.bpp, 4);
  tf.dispose(x);
  original.dispose();
  backdoored.dispose();
});
