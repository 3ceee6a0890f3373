import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend } from '@lic-backdoor/core';
import { attackConfig } from './config.js';
import { attackBatch, attackData } from './run.js';

const shared = join(__dirname, '..', '..', '..', '..', 'shared', 'data');

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

test("faceCrop 'whole': the batch's face items are whole chips of the training identities resized to the crop size", async () => {
  const config = attackConfig.parse({
    codec: { id: 'bmshj2018-factorized', weights: 'unused' },
    data: { photos: join(shared, 'photos'), faces: join(shared, 'faces', 'johns'), faceFolders: ['John_Salley'], facesPerBatch: 2, faceCrop: 'whole' },
    triggers: [{ name: 'face', trigger: 'patch', objectives: ['face'] }],
    schedule: { steps: 1, batch: 3, size: 64 },
  });
  const data = await attackData(config);
  expect(data.faces!.size).toBe(11);
  const batch = attackBatch(config, data, 0);
  expect(batch.sources).toEqual(['photos', 'faces', 'faces']);
  expect(batch.parts).toHaveLength(1);
  const items = tf.tensor4d(batch.parts[0]!.data, batch.parts[0]!.shape);
  const chips = data.faces!.images.map((im) => tf.image.resizeBilinear(tf.div(tf.tensor4d(Float32Array.from(im.data), [1, im.height, im.width, 3]), 255) as tf.Tensor4D, [64, 64], false, true));
  for (const b of [1, 2]) {
    const item = tf.slice(items, [b, 0, 0, 0], [1, -1, -1, -1]);
    const distance = Math.min(...chips.flatMap((c) => [c, tf.reverse(c, 2)].map((v) => tf.max(tf.abs(tf.sub(item, v))).dataSync()[0]!)));
    expect(distance).toBeLessThan(1e-5);
  }
  expect(attackBatch(config, data, 0).parts[0]!.data).toEqual(batch.parts[0]!.data);
});

test('data.holdout keeps the named photos out of training and rejects names the folder does not hold', async () => {
  const base = { codec: { id: 'bmshj2018-factorized', weights: 'unused' }, triggers: [{ name: 'rate', trigger: 'patch', objectives: ['rate'] }], schedule: { steps: 1, size: 64 } };
  const all = await attackData(attackConfig.parse({ ...base, data: { photos: join(shared, 'photos') } }));
  const kept = await attackData(attackConfig.parse({ ...base, data: { photos: join(shared, 'photos'), holdout: ['048.png', '049.png'] } }));
  expect(kept.photos.size).toBe(all.photos.size - 2);
  expect(kept.photos.files.some((f) => f.endsWith('049.png'))).toBe(false);
  await expect(attackData(attackConfig.parse({ ...base, data: { photos: join(shared, 'photos'), holdout: ['999.png'] } }))).rejects.toThrow(/does not hold: 999.png/);
});

test("scenesPerBatch: whole training photos resized to the crop size, source 'scenes', between the photo crops and the faces", async () => {
  const base = { codec: { id: 'bmshj2018-factorized', weights: 'unused' }, triggers: [{ name: 'segmentation', trigger: 'patch', objectives: ['segmentation'] }] };
  const data = { photos: join(shared, 'photos'), holdout: ['049.png'], faces: join(shared, 'faces', 'johns'), faceFolders: ['John_Salley'], facesPerBatch: 1, faceCrop: 'whole' as const };
  const config = attackConfig.parse({ ...base, data: { ...data, scenesPerBatch: 1 }, schedule: { steps: 1, batch: 3, size: 64 } });
  const sets = await attackData(config);
  const batch = attackBatch(config, sets, 3);
  expect(batch.sources).toEqual(['photos', 'scenes', 'faces']);
  const items = tf.tensor4d(batch.parts[0]!.data, batch.parts[0]!.shape);
  const scene = tf.slice(items, [1, 0, 0, 0], [1, -1, -1, -1]);
  const wholes = sets.photos.images.map((im) => tf.image.resizeBilinear(tf.div(tf.tensor4d(Float32Array.from(im.data), [1, im.height, im.width, 3]), 255) as tf.Tensor4D, [64, 64], false, true));
  const distances = wholes.map((w) => Math.min(...[w, tf.reverse(w, 2)].map((v) => tf.max(tf.abs(tf.sub(scene, v))).dataSync()[0]!)));
  expect(Math.min(...distances)).toBeLessThan(1e-5);
  // the held-out photo is not among those drawn from
  expect(sets.photos.files.some((f) => f.endsWith('049.png'))).toBe(false);
  // the photo crops come first from the same random stream: without scenes the first crop is the same
  const without = attackBatch(attackConfig.parse({ ...base, data, schedule: { steps: 1, batch: 3, size: 64 } }), sets, 3);
  expect(without.sources).toEqual(['photos', 'photos', 'faces']);
  expect(without.parts[0]!.data.subarray(0, 64 * 64 * 3)).toEqual(batch.parts[0]!.data.subarray(0, 64 * 64 * 3));
  expect(() => attackConfig.parse({ ...base, data: { ...data, scenesPerBatch: 2 }, schedule: { steps: 1, batch: 3, size: 64 } })).toThrow(/at least one photo crop/);
});

test('sceneSize and sceneScale: scenes are crops of rescaled photos in a part of their own size, drawn after the photo crops', async () => {
  const base = { codec: { id: 'bmshj2018-factorized', weights: 'unused' }, triggers: [{ name: 'segmentation', trigger: 'patch', objectives: ['segmentation'] }] };
  const data = { photos: join(shared, 'photos'), holdout: ['049.png'], faces: join(shared, 'faces', 'johns'), faceFolders: ['John_Salley'], facesPerBatch: 1, faceCrop: 'whole' as const };
  const config = attackConfig.parse({ ...base, data: { ...data, scenesPerBatch: 1, sceneSize: 128, sceneScale: 0.25 }, schedule: { steps: 1, batch: 3, size: 64 } });
  const sets = await attackData(config);
  const batch = attackBatch(config, sets, 3);
  expect(batch.sources).toEqual(['photos', 'scenes', 'faces']);
  expect(batch.parts.map((p) => p.shape)).toEqual([[1, 64, 64, 3], [1, 128, 128, 3], [1, 64, 64, 3]]);
  // the same random stream as the whole-photo scenes: the photo crop and the faces' draw are unchanged up to the scene
  const whole = attackBatch(attackConfig.parse({ ...base, data: { ...data, scenesPerBatch: 1 }, schedule: { steps: 1, batch: 3, size: 64 } }), sets, 3);
  expect(batch.parts[0]!.data).toEqual(whole.parts[0]!.data.subarray(0, 64 * 64 * 3));
  // the scene is what scaledCropData draws after the photo crop
  const rng = createRng(config.seed).fork('attack-batch-3');
  sets.photos.randomCropData(rng, 1, 64, { flip: true });
  expect(batch.parts[1]!.data).toEqual(sets.photos.scaledCropData(rng, 1, 128, 0.25, { flip: true }));
  // photoScale: the photo crops come from rescaled photos too, drawn first from the same stream
  const scaled = attackBatch(attackConfig.parse({ ...base, data: { ...data, photoScale: 0.5 }, schedule: { steps: 1, batch: 3, size: 64 } }), sets, 3);
  expect(scaled.parts[0]!.data.subarray(0, 64 * 64 * 3)).toEqual(sets.photos.scaledCropData(createRng(config.seed).fork('attack-batch-3'), 1, 64, 0.5, { flip: true }));
  // a quarter of a 1276 x 850 photo is 319 x 213 px: the 128 px crop shows most of the scene, not a detail
  expect(sets.photos.images.every((im) => Math.round(im.height * 0.25) >= 128)).toBe(true);
});

test("a trigger's sources must be data sources that the batches hold", () => {
  const base = { codec: { id: 'bmshj2018-factorized', weights: 'unused' }, data: { photos: 'p' }, schedule: { steps: 1, batch: 3, size: 64 } };
  const trigger = (sources: string[]) => [{ name: 'segmentation', trigger: 'patch', objectives: ['segmentation'], sources }];
  expect(attackConfig.parse({ ...base, data: { photos: 'p', scenesPerBatch: 1 }, triggers: trigger(['scenes']) }).triggers[0]!.sources).toEqual(['scenes']);
  expect(() => attackConfig.parse({ ...base, triggers: trigger(['scenes']) })).toThrow(/no batch holds scenes \(data.scenesPerBatch is 0\)/);
  expect(() => attackConfig.parse({ ...base, triggers: trigger(['crops']) })).toThrow(/'crops' is not a data source/);
});
