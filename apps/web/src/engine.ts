// Everything the page computes, on the toolkit's own packages: codecs built from fetched weights
// (the CLI's code, its transforms run by onnxruntime-web instead of onnxruntime-node), the attack's
// triggers in tfjs-wasm, and the metrics as the CLI defines them.
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-web';
import { PluginRegistry, initializeBackend, parseSafetensors, type CodecV1, type TriggerV1 } from '@lic-backdoor/core';
import { learnedCodec, parseStateDict, withEncoder, type LearnedCodecName, type StateDict } from '@lic-backdoor/codecs';
import { codingCodec } from '@lic-backdoor/onnx';
import { loadTriggerStates, register as registerTriggers } from '@lic-backdoor/triggers';
import { blockDct, rgbToYcbcr } from '@lic-backdoor/transforms';
import { msSsim, psnr } from '@lic-backdoor/evaluators';

/** One committed codec, as `scripts/assets.mjs` lists it in manifest.json (paths relative to the page). */
export interface CodecEntry {
  id: string;
  label: string;
  codec: LearnedCodecName;
  weights: string;
}

/** A shipped backdoor: its original codec's weights, its encoder side, its trained triggers. */
export interface BackdoorEntry extends CodecEntry {
  encoder: string;
  triggers: string;
  /** Each trigger's plugin reference and seed, as the CLI creates them from the attack's config. */
  triggerSpecs: { name: string; trigger: unknown; seed: number }[];
}

export interface Manifest {
  codecs: CodecEntry[];
  backdoors: BackdoorEntry[];
  samples: string[];
}

export type Progress = (message: string, fraction?: number) => void;

/** Sets up tfjs-wasm and onnxruntime-web (threads when the page is cross-origin isolated). */
export async function initialize(base: string): Promise<{ tfjs: string; ortThreads: number; isolated: boolean }> {
  setWasmPaths(new URL('tfjs/', base).href);
  // tfjs-wasm's threaded build starts its workers from a script that does not survive bundling
  // (ReferenceError in the worker); the triggers and metrics are small, one thread serves them
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
  const report = await initializeBackend({ prefer: 'wasm' });
  return { tfjs: `${report.package} ${report.tfjsVersion}`, ortThreads: ort.env.wasm.numThreads, isolated: globalThis.crossOriginIsolated };
}

/** Fetches `url` (relative to `base`) with download progress. */
export async function fetchBytes(url: string, base: string, progress: Progress): Promise<Uint8Array> {
  const response = await fetch(new URL(url, base));
  if (!response.ok || !response.body) throw new Error(`cannot fetch ${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    progress(`loading ${url} (${(received / 2 ** 20).toFixed(1)} MiB)`, total ? received / total : undefined);
  }
  const out = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

const stateCache = new Map<string, Promise<StateDict>>();

function stateDict(url: string, base: string, progress: Progress): Promise<StateDict> {
  let state = stateCache.get(url);
  if (!state) {
    state = fetchBytes(url, base, progress).then((bytes) => parseStateDict(bytes, url).state);
    stateCache.set(url, state);
  }
  return state;
}

/** The codec of `entry`, its transforms on onnxruntime-web; with `encoder`, a backdoor's encoder side over the weights. */
export async function loadCodec(entry: CodecEntry, base: string, progress: Progress, encoder?: string): Promise<CodecV1> {
  let state = await stateDict(entry.weights, base, progress);
  if (encoder) state = withEncoder(state, await stateDict(encoder, base, progress), encoder);
  progress(`building ${entry.codec} graphs${encoder ? ' (backdoored encoder)' : ''}`);
  const codec = await codingCodec(learnedCodec(entry.codec, state));
  // onnxruntime prepares each graph's kernels on its first run: once here, on a small grey image
  progress(`warming up ${entry.codec}${encoder ? ' (backdoored encoder)' : ''}`);
  const grey = tf.fill([1, 64, 64, 3], 0.5) as tf.Tensor4D;
  try {
    (await codec.decompress((await codec.compress(grey)).bytes)).dispose();
  } finally {
    grey.dispose();
  }
  return codec;
}

/** The backdoor's trained triggers by name. */
export async function loadTriggers(entry: BackdoorEntry, base: string, progress: Progress): Promise<Map<string, TriggerV1>> {
  const registry = new PluginRegistry('/');
  registerTriggers(registry);
  const triggers = [];
  for (const spec of entry.triggerSpecs) {
    triggers.push({ name: spec.name, trigger: (await registry.create('trigger', spec.trigger as never, { seed: spec.seed })) as TriggerV1 });
  }
  const { tensors } = parseSafetensors(await fetchBytes(entry.triggers, base, progress), entry.triggers);
  loadTriggerStates(triggers, tensors, entry.triggers);
  return new Map(triggers.map((t) => [t.name, t.trigger]));
}

/** What one path through a codec gives: the real stream and its decoding by the stock decoder. */
export interface CodedPath {
  bytes: Uint8Array;
  bpp: number;
  sha256: string;
  decoded: tf.Tensor4D;
  /** PSNR and MS-SSIM of the decoded image against the original (untriggered) image, as the CLI's evaluators define them. */
  psnr: number;
  msSsim: number | null;
  encodeSeconds: number;
  decodeSeconds: number;
}

/** Encodes `input` with `encoder`, decodes the stream with `decoder` (the stock codec), measures against `original`. */
export async function codePath(encoder: CodecV1, decoder: CodecV1, input: tf.Tensor4D, original: tf.Tensor4D): Promise<CodedPath> {
  const t0 = performance.now();
  const encoded = await encoder.compress(input);
  const t1 = performance.now();
  const decoded = await decoder.decompress(encoded.bytes);
  const t2 = performance.now();
  return {
    bytes: encoded.bytes,
    bpp: (8 * encoded.bytes.length) / (encoded.height * encoded.width),
    sha256: await sha256Hex(encoded.bytes),
    decoded,
    psnr: psnr(original, decoded),
    msSsim: Math.min(original.shape[1], original.shape[2]) > 160 ? msSsim(original, decoded) : null,
    encodeSeconds: (t1 - t0) / 1000,
    decodeSeconds: (t2 - t1) / 1000,
  };
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The trigger's energy per 8 x 8 DCT frequency: mean square of the orthonormal block DCT of the
 * luma difference (triggered - original, in 8-bit units) over every whole block; [8][8], row u
 * (vertical frequency), column v (horizontal).
 */
export function dctEnergy(original: tf.Tensor4D, triggeredImage: tf.Tensor4D): number[][] {
  const [, h, w] = original.shape;
  const hb = h - (h % 8);
  const wb = w - (w % 8);
  const energy = tf.tidy(() => {
    const diff = tf.slice(tf.sub(triggeredImage, original), [0, 0, 0, 0], [1, hb, wb, 3]);
    // Y of a difference: the luma row of the colour matrix on 0-255 values (Y has no offset)
    const luma = tf.slice(rgbToYcbcr(diff), [0, 0, 0, 0], [1, hb, wb, 1]);
    return tf.mean(tf.square(blockDct(luma, 8)), [0, 1, 2, 4]).dataSync();
  });
  return Array.from({ length: 8 }, (_, u) => Array.from({ length: 8 }, (_, v) => energy[u * 8 + v]!));
}
