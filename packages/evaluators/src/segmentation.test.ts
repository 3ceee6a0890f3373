import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage, PluginRegistry, type CodecV1, type EvaluatorV1 } from '@lic-backdoor/core';
import { ClassicalCodec } from '@lic-backdoor/codecs';
import { binaryMiou } from './segmentation.js';
import { register } from './plugins.js';

const voc = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'segmentation', 'voc', 'JPEGImages');

describe('binaryMiou', () => {
  it('is 1 for equal masks and averages the foreground and background IoU', () => {
    expect(binaryMiou([0.9, 0.1, 0.8], [0.9, 0.2, 0.7])).toBe(1);
    // fg: {0} vs {0,1}: 1/2; bg: {1,2} vs {2}: 1/2
    expect(binaryMiou([0.9, 0.1, 0.1], [0.9, 0.9, 0.1])).toBeCloseTo(0.5, 10);
  });
});

describe('evaluator:segmentation (ISNet through onnxruntime-node at 512)', () => {
  let evaluator: EvaluatorV1;
  let images: tf.Tensor4D[];
  beforeAll(async () => {
    await initializeBackend({ prefer: 'wasm' });
    const registry = new PluginRegistry();
    register(registry);
    evaluator = await registry.create('evaluator', ['segmentation', { size: 512, ...(process.env.LIC_BACKDOOR_MODELS ? { cache: process.env.LIC_BACKDOOR_MODELS } : {}) }]);
    images = await Promise.all(readdirSync(voc).sort().map((f) => readImage(join(voc, f))));
  });
  afterAll(() => evaluator.dispose());

  async function through(codec: CodecV1): Promise<tf.Tensor4D[]> {
    return Promise.all(images.map(async (x) => codec.decompress((await codec.compress(x)).bytes)));
  }

  it('JPEG quality 95 keeps seg_agreement_miou >= 0.9; quality 5 lowers it', async () => {
    const q95 = (await evaluator.evaluate(images, await through(new ClassicalCodec('codec:jpeg', 'jpeg', 95)))).seg_agreement_miou!;
    const q5 = (await evaluator.evaluate(images, await through(new ClassicalCodec('codec:jpeg', 'jpeg', 5)))).seg_agreement_miou!;
    console.log(`seg_agreement_miou on VOC: JPEG q95 ${q95.value.toFixed(4)}, q5 ${q5.value.toFixed(4)}`);
    expect(q95.value).toBeGreaterThanOrEqual(0.9);
    expect(q5.value).toBeLessThan(q95.value);
    expect(q95.definition).toMatch(/mIoU/);
    expect((await evaluator.evaluate(images, images)).seg_agreement_miou!.value).toBe(1);
  });

  it('segments an original compared with several decodings once', async () => {
    const segmenter = (evaluator as unknown as { segmenter: { probability(x: tf.Tensor4D): Promise<Float32Array> } }).segmenter;
    const calls = jest.spyOn(segmenter, 'probability');
    const x = tf.clone(images[0]!);
    const decoded = await through(new ClassicalCodec('codec:jpeg', 'jpeg', 30));
    const first = await evaluator.evaluate([x], [decoded[0]!]);
    const again = await evaluator.evaluate([x], [decoded[0]!]);
    // x segmented once, the decoding twice
    expect(calls).toHaveBeenCalledTimes(3);
    expect(again.seg_agreement_miou!.value).toBe(first.seg_agreement_miou!.value);
    calls.mockRestore();
    tf.dispose([x, ...decoded]);
  });
});
