import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, listImages, readImage, writeFileAtomic, type BackendName, type Metric, type PluginReference } from '@lic-backdoor/core';
import { loadRegistry } from '../plugins.js';
import { parseJsonOption } from '../json-option.js';
import { Progress, runEnvironment } from '@lic-backdoor/training';
import { createCodec } from './codec-io.js';
import { codingCodec, type Runtime } from '@lic-backdoor/onnx';

/**
 * `lic-backdoor evaluate --codec ID [--weights F [--encoder E] | --quality Q] --evaluator ID --data DIR --out DIR`:
 * every image through the codec's real bitstream, then the evaluator compares originals with
 * decoded images; results.json holds each metric with its definition.
 */
export async function evaluateWith(o: {
  codec: string;
  weights?: string;
  encoder?: string;
  quality?: number;
  evaluator: string;
  options?: string;
  data: string;
  out: string;
  runtime?: Runtime;
  backend?: BackendName;
}): Promise<void> {
  const backend = await initializeBackend({ prefer: o.backend });
  const options = parseJsonOption(o.options);
  const files = await listImages(resolve(o.data));
  const registry = await loadRegistry();
  const evaluator = await registry.create('evaluator', [o.evaluator, options] as PluginReference);
  // a codec beside a task backbone: no memory arena for its float graphs (24-megapixel photos)
  const codec = await codingCodec(await createCodec(o.codec, o), o.runtime, { memoryArena: false });
  const originals: tf.Tensor4D[] = [];
  const decoded: tf.Tensor4D[] = [];
  const perImage: { image: string; bpp: number }[] = [];
  const progress = new Progress(`evaluate ${o.codec}`, files.length, 1);
  const started = performance.now();
  for (const file of files) {
    const x = await readImage(file);
    const encoded = await codec.compress(x);
    originals.push(x);
    decoded.push(await codec.decompress(encoded.bytes));
    perImage.push({ image: basename(file), bpp: (encoded.bytes.length * 8) / (encoded.height * encoded.width) });
    progress.update(perImage.length, basename(file));
  }
  progress.done();
  const metrics: Record<string, Metric> = await evaluator.evaluate(originals, decoded);
  metrics.bpp = {
    value: perImage.reduce((s, r) => s + r.bpp, 0) / perImage.length,
    unit: 'bpp',
    definition: 'mean over images of 8 x bytes of the bitstream / (height x width)',
  };
  const output = {
    command: 'evaluate',
    name: o.codec,
    description: `${o.codec} then ${evaluator.id} on ${perImage.length} images of ${resolve(o.data)}, real bitstreams`,
    codec: o.codec,
    evaluator: evaluator.id,
    metrics,
    per_image: perImage,
    wall_time_s: (performance.now() - started) / 1000,
    config: { ...o, data: resolve(o.data) },
    environment: runEnvironment(backend),
  };
  await writeFileAtomic(join(resolve(o.out), 'results.json'), JSON.stringify(output, null, 2));
  await evaluator.dispose();
  codec.dispose();
  tf.dispose([...originals, ...decoded]);
  for (const [k, m] of Object.entries(metrics)) console.log(`${k}: ${m.value.toFixed(4)} ${m.unit}`);
  console.log(join(resolve(o.out), 'results.json'));
}
