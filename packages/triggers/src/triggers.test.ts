import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRng, PluginRegistry } from '@lic-backdoor/core';
import { blockDct, blockIdct, frequencyBand, rgbToYcbcr, ycbcrToRgb } from '@lic-backdoor/transforms';
import { addFrequencyTrigger, bandSelection } from './frequency.js';
import { AdaptiveFrequencyTrigger } from './adaptive-frequency.js';
import { BlendTrigger, FixedFrequencyTrigger, PatchTrigger } from './fixed.js';
import { register } from './plugins.js';

beforeAll(() => tf.setBackend('cpu'));

const band = { blockSize: 16, fromRank: 96, toRank: 160 };

function image(seed: number, h = 32, w = 48, low = 0.3, high = 0.7): tf.Tensor4D {
  return tf.tensor4d(createRng(seed).uniformArray(h * w * 3, low, high), [1, h, w, 3]);
}

function psnr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => 10 * Math.log10(1 / tf.mean(tf.square(tf.sub(a, b))).dataSync()[0]!));
}

/** DCT coefficients of the triggered image minus those of the original, [B, H/n, W/n, n*n, 3]. */
function coefficientChange(x: tf.Tensor4D, y: tf.Tensor4D, n = 16): Float32Array {
  return tf.tidy(() => tf.sub(blockDct(rgbToYcbcr(y, { centered: true }), n), blockDct(rgbToYcbcr(x, { centered: true }), n)).dataSync() as Float32Array);
}

test('adding coefficients through the inverse DCT alone equals transform, add, inverse transform', () => {
  const x = image(1);
  const rng = createRng(2);
  const weight = tf.tensor4d(rng.uniformArray(2 * 3 * 3, 0.5, 1.5), [1, 2, 3, 3]);
  const pattern = tf.tensor3d(rng.uniformArray(3 * 64, -5, 5), [1, 3, 64]);
  const selection = bandSelection(band);
  const fast = addFrequencyTrigger(x, weight, pattern, selection, 16);
  const explicit = tf.tidy(() => {
    const d = blockDct(rgbToYcbcr(x, { centered: true }), 16);
    const delta = tf.mul(tf.reshape(weight, [1, 2, 3, 1, 3]), tf.reshape(tf.transpose(tf.matMul(tf.reshape(pattern, [3, 64]), selection), [1, 0]), [1, 1, 1, 256, 3]));
    return tf.clipByValue(ycbcrToRgb(blockIdct(tf.add(d, delta), 16), { centered: true }), 0, 1);
  });
  expect(tf.max(tf.abs(tf.sub(fast, explicit))).dataSync()[0]).toBeLessThan(1e-5);
});

describe('adaptive frequency trigger', () => {
  const trigger = new AdaptiveFrequencyTrigger({ ...band, topK: 16, width: 4, amplitude: 24 }, 7);
  afterAll(() => trigger.dispose());

  test('changes only the top-K candidate coefficients of each channel, the same ones in every block', () => {
    const x = image(3, 64, 64);
    const y = trigger.apply(x);
    const change = coefficientChange(x, y);
    const candidates = new Set(frequencyBand(16, 96, 160));
    const used: Set<number>[] = [new Set(), new Set(), new Set()];
    change.forEach((v, i) => {
      if (Math.abs(v) < 1e-3) return;
      const c = i % 3;
      const k = Math.floor(i / 3) % 256;
      expect(candidates.has(k)).toBe(true);
      used[c]!.add(k);
    });
    expect(used.map((s) => s.size)).toEqual([16, 16, 16]);
  });

  test('is image-adaptive: two images get different patterns', () => {
    const a = trigger.triggerParts(image(4, 64, 64));
    const b = trigger.triggerParts(image(5, 64, 64, 0, 1));
    expect(tf.max(tf.abs(tf.sub(a.pattern, b.pattern))).dataSync()[0]).toBeGreaterThan(1e-3);
    expect(a.weight.shape).toEqual([1, 4, 4, 3]);
  });

  test('every variable gets a gradient from a loss on the triggered image', () => {
    const x = image(6, 64, 64);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(trigger.apply(x), x))) as tf.Scalar, trigger.variables());
    const zero = Object.entries(grads).filter(([, g]) => tf.max(tf.abs(g)).dataSync()[0] === 0).map(([name]) => name);
    expect(zero).toEqual([]);
  });

  test('state dict round trip reproduces the trigger; a misshapen tensor is refused', () => {
    const other = new AdaptiveFrequencyTrigger({ ...band, topK: 16, width: 4, amplitude: 24 }, 8);
    const x = image(9, 32, 32);
    expect(tf.max(tf.abs(tf.sub(other.apply(x), trigger.apply(x)))).dataSync()[0]).toBeGreaterThan(1e-4);
    other.loadStateDict(trigger.stateDict());
    expect(tf.max(tf.abs(tf.sub(other.apply(x), trigger.apply(x)))).dataSync()[0]).toBe(0);
    expect(() => other.loadStateDict({ ...trigger.stateDict(), 'values.bias': tf.zeros([3]) })).toThrow(/values\.bias/);
    other.dispose();
  });

  test('pads images that are not multiples of the block size and returns their size', () => {
    expect(trigger.apply(image(10, 40, 50)).shape).toEqual([1, 40, 50, 3]);
  });
});

describe('baselines', () => {
  test('fixed-frequency adds the same coefficients to every block; default amplitude gives about 38.5 dB', () => {
    const t = new FixedFrequencyTrigger({ blockSize: 16, fromRank: 96, toRank: 112, amplitude: 12, channels: ['Y'] }, 1);
    const x = image(11, 64, 64);
    const y = t.apply(x);
    const change = coefficientChange(x, y);
    const blocks = change.length / (256 * 3);
    for (let k = 0; k < 256 * 3; k++) for (let j = 1; j < blocks; j++) expect(change[j * 768 + k]).toBeCloseTo(change[k]!, 3);
    // Y-only: sixteen coefficients of 12 -> RMS 3 per pixel -> 38.6 dB
    expect(psnr(x, y)).toBeCloseTo(20 * Math.log10(255 / 3), 1);
    expect(t.variables()).toEqual([]);
  });

  test('patch replaces exactly the corner pixels', () => {
    const t = new PatchTrigger({ size: 8, corner: 'bottom-right', opacity: 1 }, 1);
    const x = image(12, 32, 32);
    const diff = tf.abs(tf.sub(t.apply(x), x));
    expect(tf.sum(tf.slice(diff, [0, 0, 0, 0], [1, 24, 32, 3])).dataSync()[0]).toBe(0);
    expect(tf.min(tf.slice(diff, [0, 24, 24, 0], [1, 8, 8, 3])).dataSync()[0]).toBeGreaterThan(0.29);
  });

  test('blend is (1 - alpha) x + alpha p with p in [0, 1]', () => {
    const t = new BlendTrigger({ alpha: 0.1, tile: 8 }, 1);
    const x = image(13, 16, 24);
    const p = tf.div(tf.sub(t.apply(x), tf.mul(x, 0.9)), 0.1);
    expect(tf.min(p).dataSync()[0]).toBeGreaterThanOrEqual(-1e-5);
    expect(tf.max(p).dataSync()[0]).toBeLessThanOrEqual(1 + 1e-5);
    // the tile repeats every 8 pixels
    expect(tf.max(tf.abs(tf.sub(tf.slice(p, [0, 0, 0, 0], [1, 8, 8, 3]), tf.slice(p, [0, 8, 16, 0], [1, 8, 8, 3])))).dataSync()[0]).toBeLessThan(1e-4);
  });
});

test('the four triggers are registered with their defaults', async () => {
  const registry = new PluginRegistry();
  register(registry);
  const ids = registry.list().map((f) => `${f.kind}:${f.name}`);
  expect(ids).toEqual(['trigger:adaptive-frequency', 'trigger:blend', 'trigger:fixed-frequency', 'trigger:patch']);
  const t = (await registry.create('trigger', 'adaptive-frequency', { seed: 1 })) as AdaptiveFrequencyTrigger;
  expect(t.options).toMatchObject({ blockSize: 16, fromRank: 96, toRank: 160, topK: 16 });
  await expect(registry.create('trigger', ['adaptive-frequency', { fromRank: 200, toRank: 100 }])).rejects.toThrow(/fromRank/);
  t.dispose();
});
