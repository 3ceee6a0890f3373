import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage, roundTo8Bit, tensorToRgb, PluginRegistry } from '@lic-backdoor/core';
import { FactorizedPrior } from './models/factorized.js';
import { FactorizedCodec } from './learned-codec.js';
import { gdn, createGdn, nonNegative } from './layers/gdn.js';
import { register } from './plugins.js';
import { readBitstream } from '@lic-backdoor/entropy';
import { createHash } from 'node:crypto';

// Regenerate only on purpose (a change of the model, the coder or the container changes it).
const GOLDEN_MD5 = '13c19e8bb7899dc0106ce47e349d55df';

const kodim = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'kodak', 'kodim23.png');

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

async function crop(h: number, w: number): Promise<tf.Tensor4D> {
  const img = await readImage(kodim);
  return tf.slice(img, [0, 100, 200, 0], [1, h, w, 3]);
}

describe('bmshj2018-factorized', () => {
  it("has exactly CompressAI's state_dict keys and PyTorch shapes", () => {
    const model = new FactorizedPrior(8, 12, 0);
    const keys = Object.keys(model.expectedKeys()).sort();
    const convs = ['g_a.0', 'g_a.2', 'g_a.4', 'g_a.6', 'g_s.0', 'g_s.2', 'g_s.4', 'g_s.6'].flatMap((n) => [`${n}.weight`, `${n}.bias`]);
    const gdns = ['g_a.1', 'g_a.3', 'g_a.5', 'g_s.1', 'g_s.3', 'g_s.5'].flatMap((n) =>
      ['beta', 'gamma', 'beta_reparam.pedestal', 'beta_reparam.lower_bound.bound', 'gamma_reparam.pedestal', 'gamma_reparam.lower_bound.bound'].map((k) => `${n}.${k}`),
    );
    const eb = [0, 1, 2, 3, 4].flatMap((i) => [`entropy_bottleneck._matrix${i}`, `entropy_bottleneck._bias${i}`, ...(i < 4 ? [`entropy_bottleneck._factor${i}`] : [])]);
    const buffers = ['quantiles', 'target', 'likelihood_lower_bound.bound', '_offset', '_quantized_cdf', '_cdf_length'].map((k) => `entropy_bottleneck.${k}`);
    expect(keys).toEqual([...convs, ...gdns, ...eb, ...buffers].sort());
    const state = model.stateDict();
    expect(Object.keys(state).sort()).toEqual(keys);
    expect(state['g_a.0.weight']!.shape).toEqual([8, 3, 5, 5]);
    expect(state['g_s.0.weight']!.shape).toEqual([12, 8, 5, 5]);
    expect(state['g_s.6.weight']!.shape).toEqual([8, 3, 5, 5]);
    expect(state['entropy_bottleneck._matrix0']!.shape).toEqual([12, 3, 1]);
  });

  it('a saved state dict loads into a fresh model and gives the same reconstruction', async () => {
    const a = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 1));
    a.update();
    const b = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 2));
    b.model.loadStateDict(a.model.stateDict());
    const x = await crop(64, 64);
    expect(Array.from(b.reconstruct(x).dataSync())).toEqual(Array.from(a.reconstruct(x).dataSync()));
    expect(b.weightsHash()).toEqual(a.weightsHash());
    expect(() => b.model.loadStateDict({ ...a.model.stateDict(), extra: { shape: [1], data: new Float32Array(1) } })).toThrow(/unexpected 'extra'/);
  });

  it('decompress(compress(x)) is byte-identical to the evaluation forward pass, padding included', async () => {
    const codec = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 3));
    codec.update();
    const x = await crop(80, 100);
    const encoded = await codec.compress(x);
    const decoded = await codec.decompress(encoded.bytes);
    expect(decoded.shape).toEqual([1, 80, 100, 3]);
    const a = await tensorToRgb(decoded);
    const b = await tensorToRgb(codec.reconstruct(x));
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    // the entropy-coded payload (without the ~70-byte container header) matches the estimate
    const payloadBpp = (readBitstream(encoded.bytes).streams[0]!.length * 8) / (80 * 100);
    expect(Math.abs(payloadBpp - encoded.bppEstimated!) / encoded.bppEstimated!).toBeLessThan(0.05);
  });

  it('refuses streams for other weights, and damaged streams, with clear errors', async () => {
    const codec = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 3));
    codec.update();
    const other = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 4));
    other.update();
    const { bytes } = await codec.compress(await crop(64, 64));
    await expect(other.decompress(bytes)).rejects.toThrow(/other decoder weights/);
    const bad = bytes.slice();
    bad[bad.length >> 1]! ^= 1;
    await expect(codec.decompress(bad)).rejects.toThrow(/CRC mismatch/);
  });
});

describe('bitstream integrity', () => {
  let codec: FactorizedCodec;
  let bytes: Uint8Array;
  beforeAll(async () => {
    codec = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 5));
    codec.update();
    bytes = (await codec.compress(await crop(64, 64))).bytes;
  });

  it('a golden md5 pins the bytes of a fixed image through a seeded model (wasm backend)', () => {
    expect(createHash('md5').update(bytes).digest('hex')).toBe(GOLDEN_MD5);
  });

  it('every single-byte flip and every truncation fails with a clear error, each well within 10 s', async () => {
    let slowest = 0;
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i]! ^= 0xff;
      const t = performance.now();
      await expect(codec.decompress(bad)).rejects.toThrow(/not a valid lic-backdoor bitstream|written by|other decoder weights/);
      slowest = Math.max(slowest, performance.now() - t);
    }
    for (let n = 0; n < bytes.length; n++) await expect(codec.decompress(bytes.subarray(0, n))).rejects.toThrow(/not a valid lic-backdoor bitstream/);
    expect(slowest).toBeLessThan(10_000);
  });
});

describe('GDN', () => {
  it('computes x / sqrt(beta + gamma x^2) per pixel, and its inverse multiplies', () => {
    const p = createGdn(2, 'g');
    p.gamma.assign(tf.sqrt(tf.tensor2d([0.5, 0.25, 0.1, 2], [2, 2])));
    const x = tf.tensor4d([1, 2], [1, 1, 1, 2]);
    const y = gdn(x, p, false).dataSync();
    const beta = nonNegative(p.beta, 1e-6).dataSync();
    expect(y[0]).toBeCloseTo(1 / Math.sqrt(beta[0]! + 0.5 * 1 + 0.25 * 4), 4);
    expect(y[1]).toBeCloseTo(2 / Math.sqrt(beta[1]! + 0.1 * 1 + 2 * 4), 4);
    expect(gdn(x, p, true).dataSync()[0]).toBeCloseTo(Math.sqrt(beta[0]! + 0.5 + 1), 4);
  });

  it('has the gradient of x / sqrt(beta + gamma x^2) (central differences, float64 reference)', () => {
    const p = createGdn(2, 'g');
    p.gamma.assign(tf.sqrt(tf.tensor2d([0.5, 0.25, 0.1, 2], [2, 2])));
    const beta = Array.from(nonNegative(p.beta, 1e-6).dataSync());
    const gamma = [[0.5, 0.25], [0.1, 2]];
    const value = ([a, b]: number[]) => [a! / Math.sqrt(beta[0]! + gamma[0]![0]! * a! * a! + gamma[0]![1]! * b! * b!), b! / Math.sqrt(beta[1]! + gamma[1]![0]! * a! * a! + gamma[1]![1]! * b! * b!)];
    const point = [0.7, -1.3];
    const weights = [0.9, -0.4];
    const [g] = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(gdn(x as tf.Tensor4D, p, false), tf.tensor1d(weights))))([tf.tensor4d(point, [1, 1, 1, 2])]);
    const analytic = g!.dataSync();
    for (let i = 0; i < 2; i++) {
      const h = 1e-6;
      const plus = value(point.map((v, j) => (j === i ? v + h : v)));
      const minus = value(point.map((v, j) => (j === i ? v - h : v)));
      const numeric = (weights[0]! * (plus[0]! - minus[0]!) + weights[1]! * (plus[1]! - minus[1]!)) / (2 * h);
      expect(analytic[i]).toBeCloseTo(numeric, 4);
    }
  });
});

describe('classical codecs', () => {
  it.each(['jpeg', 'webp'])('%s at quality 90 round-trips through real files above 30 dB', async (name) => {
    const registry = new PluginRegistry();
    register(registry);
    const codec = await registry.create('codec', [name, { quality: 90 }]);
    const x = await roundTo8Bit(await crop(64, 96));
    const { bytes } = await codec.compress(x);
    const y = await codec.decompress(bytes);
    const mse = tf.mean(tf.square(tf.sub(y, x))).dataSync()[0]!;
    expect(10 * Math.log10(1 / mse)).toBeGreaterThan(30);
    await expect(codec.decompress(bytes.subarray(0, 10))).rejects.toThrow(/not a valid/);
  });
});
