import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, listImages, readImage, writeFileAtomic, type BackendName } from '@lic-backdoor/core';
import { METRIC_DEFINITIONS, msSsim, psnr } from '@lic-backdoor/evaluators';
import { Progress, runEnvironment } from '@lic-backdoor/training';
import { createCodec } from './codec-io.js';
import { codingCodec, type Runtime } from '@lic-backdoor/onnx';

interface PerImage {
  image: string;
  point: string;
  'psnr-rgb': number;
  'ms-ssim-rgb': number;
  bpp: number;
  bpp_estimated?: number;
  encoding_time: number;
  decoding_time: number;
}

const KEYS = ['psnr-rgb', 'ms-ssim-rgb', 'bpp', 'bpp_estimated', 'encoding_time', 'decoding_time'] as const;
const UNITS: Record<(typeof KEYS)[number], string> = { 'psnr-rgb': 'dB', 'ms-ssim-rgb': '', bpp: 'bpp', bpp_estimated: 'bpp', encoding_time: 's', decoding_time: 's' };

/**
 * `lic-backdoor eval`: every image of a folder through real bitstreams, at each rate point (a
 * `--quality` for classical codecs, a `--weights` file for learned ones), written as results.json
 * in CompressAI's shape with per-image values and each metric's definition.
 */
export async function evaluate(o: { codec: string; weights?: string; quality?: string; data: string; out: string; runtime?: Runtime; backend?: BackendName }): Promise<void> {
  const backend = await initializeBackend({ prefer: o.backend });
  const points: { label: string; options: { weights?: string; quality?: number } }[] = [];
  if (o.quality) for (const q of o.quality.split(',')) points.push({ label: `quality=${q}`, options: { quality: Number(q) } });
  else if (o.weights) for (const w of o.weights.split(',')) points.push({ label: w, options: { weights: w } });
  else points.push({ label: 'default', options: {} });
  const files = await listImages(resolve(o.data));
  const perImage: PerImage[] = [];
  const progress = new Progress(`eval ${o.codec}`, points.length * files.length, 1);
  const started = performance.now();
  for (const point of points) {
    const codec = await codingCodec(await createCodec(o.codec, point.options), o.runtime);
    for (const file of files) {
      const x = await readImage(file);
      const t0 = performance.now();
      const encoded = await codec.compress(x);
      const t1 = performance.now();
      const y = await codec.decompress(encoded.bytes);
      const t2 = performance.now();
      perImage.push({
        image: basename(file),
        point: point.label,
        'psnr-rgb': psnr(x, y),
        'ms-ssim-rgb': msSsim(x, y),
        bpp: (encoded.bytes.length * 8) / (encoded.height * encoded.width),
        ...(encoded.bppEstimated !== undefined ? { bpp_estimated: encoded.bppEstimated } : {}),
        encoding_time: (t1 - t0) / 1000,
        decoding_time: (t2 - t1) / 1000,
      });
      tf.dispose([x, y]);
      progress.update(perImage.length, `${basename(file)} ${perImage[perImage.length - 1]!['psnr-rgb'].toFixed(2)} dB`);
    }
    codec.dispose();
  }
  progress.done();
  const results: Record<string, number[]> = {};
  for (const key of KEYS) {
    const values = points.map((p) => mean(perImage.filter((r) => r.point === p.label).map((r) => r[key])));
    if (values.every((v) => v !== undefined)) results[key] = values as number[];
  }
  const definitions = {
    'psnr-rgb': METRIC_DEFINITIONS.psnr,
    'ms-ssim-rgb': METRIC_DEFINITIONS.msSsim,
    bpp: METRIC_DEFINITIONS.bpp,
    bpp_estimated: METRIC_DEFINITIONS.bppEstimated,
    encoding_time: 'seconds to encode one image to bytes (wall clock, mean over images)',
    decoding_time: 'seconds to decode one image from bytes (wall clock, mean over images)',
  };
  const output = {
    command: 'eval',
    name: o.codec,
    description: `${o.codec} on ${files.length} images of ${resolve(o.data)}, real bitstreams, transforms run by ${o.runtime === 'tfjs' ? 'tfjs' : 'onnxruntime-node (CPU execution provider)'}`,
    points: points.map((p) => p.label),
    results,
    definitions: { ...definitions, mean: 'each value in results is the mean over the images at that rate point' },
    metrics: Object.fromEntries(Object.entries(results).map(([k, value]) => [k, { value, unit: UNITS[k as (typeof KEYS)[number]], definition: `${definitions[k as (typeof KEYS)[number]]}; mean over the images, one value per rate point (points)` }])),
    per_image: perImage,
    wall_time_s: (performance.now() - started) / 1000,
    config: { ...o, data: resolve(o.data) },
    environment: runEnvironment(backend),
  };
  await writeFileAtomic(join(resolve(o.out), 'results.json'), JSON.stringify(output, null, 2));
  for (const [i, p] of points.entries()) {
    console.log(`${p.label}: bpp ${results.bpp![i]!.toFixed(4)}  psnr ${results['psnr-rgb']![i]!.toFixed(2)} dB  ms-ssim ${results['ms-ssim-rgb']![i]!.toFixed(4)}`);
  }
  console.log(join(resolve(o.out), 'results.json'));
}

function mean(values: (number | undefined)[]): number | undefined {
  if (values.some((v) => v === undefined)) return undefined;
  return (values as number[]).reduce((a, b) => a + b, 0) / values.length;
}
