import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage, PluginRegistry } from '@lic-backdoor/core';
import { ClassicalCodec } from '@lic-backdoor/codecs';
import { FaceObjective, register as registerObjectives } from '@lic-backdoor/objectives';
import { FaceRecognitionEvaluator, centredCosine, normalise, similarityTransform } from './face.js';
import { register } from './plugins.js';

const johns = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'faces', 'johns');

describe('similarityTransform', () => {
  it('recovers a known rotation, scale and translation', () => {
    const [a, b, tx, ty] = [0.8, 0.3, 5, -2];
    const src: [number, number][] = [[0, 0], [10, 0], [0, 10], [7, 3]];
    const dst = src.map(([x, y]) => [a * x - b * y + tx, b * x + a * y + ty] as [number, number]);
    const got = similarityTransform(src, dst);
    [a, b, tx, ty].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 6));
  });
});

describe('evaluator:face-recognition', () => {
  let evaluator: FaceRecognitionEvaluator;
  let faces: tf.Tensor4D[];
  beforeAll(async () => {
    await initializeBackend({ prefer: 'wasm' });
    const registry = new PluginRegistry();
    register(registry);
    evaluator = (await registry.create('evaluator', ['face-recognition', { calibration: johns, ...(process.env.LIC_BACKDOOR_MODELS ? { cache: process.env.LIC_BACKDOOR_MODELS } : {}) }])) as FaceRecognitionEvaluator;
    const files = readdirSync(johns).flatMap((who) => readdirSync(join(johns, who)).map((f) => join(johns, who, f)));
    faces = await Promise.all(files.sort().map((f) => readImage(f)));
  });
  afterAll(() => evaluator.dispose());

  it('calibrates on johns: 55/55 nearest-neighbour identification, <= 1% false accepts', () => {
    const c = evaluator.calibration;
    console.log(`face verification: threshold ${c.threshold.toFixed(4)}, TAR ${c.trueAcceptRate.toFixed(4)} at FAR ${c.falseAcceptRate.toFixed(4)}, identification ${c.identification.join('/')}`);
    expect(c.identification).toEqual([55, 55]);
    expect(c.falseAcceptRate).toBeLessThanOrEqual(0.01);
    expect(c.trueAcceptRate).toBeGreaterThan(0.9);
  });

  it('through JPEG quality 95 faces keep their identity (rate >= 0.95); quality 5 lowers the rate', async () => {
    const through = async (q: number) => {
      const codec = new ClassicalCodec('codec:jpeg', 'jpeg', q);
      return Promise.all(faces.map(async (x) => codec.decompress((await codec.compress(x)).bytes)));
    };
    const q95 = await evaluator.evaluate(faces, await through(95));
    const q5 = await evaluator.evaluate(faces, await through(5));
    console.log(`face_identity_rate on johns: JPEG q95 ${q95.face_identity_rate!.value.toFixed(4)}, q5 ${q5.face_identity_rate!.value.toFixed(4)}`);
    expect(q95.faces_evaluated!.value).toBe(55);
    expect(q95.face_identity_rate!.value).toBeGreaterThanOrEqual(0.95);
    expect(q5.face_identity_rate!.value).toBeLessThanOrEqual(q95.face_identity_rate!.value);
  });
});

describe('objective:face measures what the evaluator measures', () => {
  it('on chips resized to 128 x 128, its aligned, centred embedding agrees with the evaluator pipeline (centred cosine >= 0.93)', async () => {
    await initializeBackend({ prefer: 'wasm' });
    const registry = new PluginRegistry();
    register(registry);
    registerObjectives(registry);
    const evaluator = (await registry.create('evaluator', ['face-recognition', { calibration: johns, ...(process.env.LIC_BACKDOOR_MODELS ? { cache: process.env.LIC_BACKDOOR_MODELS } : {}) }])) as FaceRecognitionEvaluator;
    // the align region of the shipped attack config; centred on the same chips as the calibration
    const objective = (await registry.create('objective', ['face', { align: [-0.04, -0.2, 1.04, 0.88], centre: [johns] }])) as FaceObjective;
    const files = readdirSync(johns).map((who) => join(johns, who, readdirSync(join(johns, who)).sort()[0]!));
    const agreement: number[] = [];
    for (const f of files) {
      const chip = await readImage(f);
      const e = await evaluator.pipeline.embedImage(chip);
      const mine = tf.tidy(() => objective.embed(tf.image.resizeBilinear(chip, [128, 128], false, true)).dataSync() as Float32Array);
      const centre = objective.options.centre!;
      agreement.push(centredCosine(mine, normalise(e!.map((v, i) => v - centre[i]!))));
      chip.dispose();
    }
    console.log(`objective vs evaluator embeddings (centred cosine): ${agreement.map((a) => a.toFixed(3)).join(' ')}`);
    expect(agreement).toHaveLength(5);
    for (const a of agreement) expect(a).toBeGreaterThanOrEqual(0.93);
    // its centre (mean over the aligned regions of the chips, through tfjs) is the calibration mean (onnxruntime, warped faces)
    expect(centredCosine(normalise(objective.options.centre!), normalise(evaluator.calibration.mean))).toBeGreaterThan(0.98);
    objective.dispose();
    await evaluator.dispose();
  });
});

