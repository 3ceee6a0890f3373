import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { initializeBackend, readImage, writeImage, writeFileAtomic, makeDirectory, type BackendName, type CodecV1 } from '@lic-backdoor/core';
import { MAGIC, readBitstream } from '@lic-backdoor/entropy';
import { loadRegistry } from '../plugins.js';
import { codingCodec, type Runtime } from '@lic-backdoor/onnx';
import { loadBackdoor, triggeredImage } from '@lic-backdoor/attack';
import { msSsim, psnr } from '@lic-backdoor/evaluators';
import type * as tf from '@tensorflow/tfjs-core';

/** Creates a codec plugin from CLI options: `--weights` (and `--encoder`, a backdoor's encoder side) for learned codecs, `--quality` for classical ones. */
export async function createCodec(id: string, options: { weights?: string; encoder?: string; quality?: number; maxMegapixels?: number }): Promise<CodecV1> {
  const registry = await loadRegistry();
  // a registered name, or a codec plugin module or package (resolved from the working directory)
  const { factory } = await registry.resolve('codec', id);
  const opts: Record<string, unknown> = {};
  const shape = factory.optionsSchema as unknown as { shape?: Record<string, unknown> };
  if (options.weights !== undefined) {
    if (!shape.shape || !('weights' in shape.shape)) throw new Error(`codec '${id}' takes no --weights`);
    opts.weights = options.weights;
  }
  if (options.encoder !== undefined) {
    if (!shape.shape || !('encoder' in shape.shape)) throw new Error(`codec '${id}' takes no --encoder`);
    if (options.weights === undefined) throw new Error('--encoder replaces the encoder side of --weights: give --weights too');
    opts.encoder = options.encoder;
  }
  if (options.maxMegapixels !== undefined && shape.shape && 'maxMegapixels' in shape.shape) opts.maxMegapixels = options.maxMegapixels;
  if (options.quality !== undefined) {
    if (!shape.shape || !('quality' in shape.shape)) throw new Error(`codec '${id}' takes no --quality`);
    opts.quality = options.quality;
  }
  return registry.create('codec', [id, opts]);
}

/** `lic-backdoor compress IMAGE (--codec ID [--weights F [--encoder E] | --quality Q] | --attack DIR [--trigger NAME]) -o FILE`. */
export async function compress(image: string, o: { codec?: string; weights?: string; encoder?: string; quality?: number; attack?: string; trigger?: string; output: string; runtime?: Runtime; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: o.backend });
  const { codec, x } = o.attack ? await attackInput(image, o.attack, o) : await plainInput(image, o);
  const encoded = await codec.compress(x);
  await writeFileAtomic(o.output, encoded.bytes);
  const bpp = (encoded.bytes.length * 8) / (encoded.height * encoded.width);
  console.log(JSON.stringify({ output: o.output, bytes: encoded.bytes.length, bpp, bpp_estimated: encoded.bppEstimated, height: encoded.height, width: encoded.width }));
}

async function plainInput(image: string, o: { codec?: string; weights?: string; encoder?: string; quality?: number; trigger?: string; runtime?: Runtime }) {
  if (!o.codec) throw new Error('give --codec (or --attack, whose backdoored codec is used)');
  if (o.trigger) throw new Error('--trigger names a trigger of --attack: give --attack too');
  return { codec: await codingCodec(await createCodec(o.codec, o), o.runtime), x: await readImage(image) };
}

/** The backdoored codec of an attack folder and the image, with the attack's trigger `trigger` applied (8-bit, as a victim receives it) when given. */
async function attackInput(image: string, dir: string, o: { codec?: string; weights?: string; encoder?: string; quality?: number; trigger?: string; runtime?: Runtime }) {
  const given = (['codec', 'weights', 'encoder', 'quality'] as const).filter((k) => o[k] !== undefined);
  if (given.length) throw new Error(`--attack takes its codec and weights from the attack folder: drop --${given.join(', --')}`);
  const { backdoored, triggers } = await loadBackdoor(resolve(dir), { registry: loadRegistry, runtime: o.runtime });
  const x = await readImage(image);
  if (!o.trigger) return { codec: backdoored, x };
  const found = triggers.find((t) => t.name === o.trigger);
  if (!found) throw new Error(`attack '${dir}' has no trigger '${o.trigger}' (it has ${triggers.map((t) => t.name).join(', ')})`);
  const xt = triggeredImage(found.trigger, x);
  x.dispose();
  return { codec: backdoored, x: xt };
}

/**
 * `lic-backdoor decompress FILE [--weights F] -o IMAGE.png`: the decoder reads only the file (its
 * header names the codec) and the weights. A plain .jpg/.webp file decodes as a classical stream.
 */
export async function decompress(file: string, o: { weights?: string; output: string; reference?: string; maxMegapixels?: number; runtime?: Runtime; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: o.backend });
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (cause) {
    throw new Error(`Cannot read bitstream '${file}': ${(cause as Error).message}`);
  }
  const isContainer = new TextDecoder().decode(bytes.subarray(0, 4)) === MAGIC;
  const id = isContainer ? readBitstream(bytes).codecId : sniffClassical(bytes);
  const codec = await codingCodec(await createCodec(id, isContainer ? { weights: o.weights, maxMegapixels: o.maxMegapixels } : {}), o.runtime);
  const image = await codec.decompress(bytes);
  await makeDirectory(dirname(o.output));
  await writeImage(o.output, image);
  const quality = o.reference ? await againstReference(image, o.reference) : {};
  console.log(JSON.stringify({ output: o.output, codec: id, height: image.shape[1], width: image.shape[2], ...quality }));
}

/** PSNR and MS-SSIM of a decoded image against the original, as `eval` defines them (MS-SSIM null below 161 pixels a side). */
async function againstReference(image: tf.Tensor4D, reference: string): Promise<{ psnr: number; ms_ssim: number | null }> {
  const x = await readImage(reference);
  try {
    if (x.shape[1] !== image.shape[1] || x.shape[2] !== image.shape[2]) throw new Error(`--reference ${reference} is ${x.shape[2]} x ${x.shape[1]}, the decoded image ${image.shape[2]} x ${image.shape[1]}`);
    return { psnr: psnr(x, image), ms_ssim: Math.min(x.shape[1], x.shape[2]) > 160 ? msSsim(x, image) : null };
  } finally {
    x.dispose();
  }
}

function sniffClassical(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'codec:jpeg';
  if (new TextDecoder().decode(bytes.subarray(0, 4)) === 'RIFF' && new TextDecoder().decode(bytes.subarray(8, 12)) === 'WEBP') return 'codec:webp';
  throw new Error('not a lic-backdoor bitstream (wrong magic bytes), nor a JPEG or WebP file');
}
