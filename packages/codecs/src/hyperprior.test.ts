import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { PluginRegistry, initializeBackend, parseSafetensors, readImage, serializeSafetensors, tensorToRgb, type NamedArray } from '@lic-backdoor/core';
import { readBitstream } from '@lic-backdoor/entropy';
import { HyperpriorModel, type HyperpriorVariant } from './models/hyperprior.js';
import { HyperpriorCodec } from './hyperprior-codec.js';
import { GaussianConditional, erfc, scaleTable } from './entropy-models/gaussian-conditional.js';
import { FixedPointHyperSynthesis } from './entropy-models/fixed-point-hyper-synthesis.js';
import { createCodecTrainable } from './trainable.js';
import { FactorizedPrior } from './models/factorized.js';
import { WeightsError, isEncoderKey, overlayStateDict, withEncoder, writeStateDict } from './weights.js';
import { register } from './plugins.js';

const kodim = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'kodak', 'kodim23.png');

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

async function crop(h: number, w: number): Promise<tf.Tensor4D> {
  return tf.slice(await readImage(kodim), [0, 50, 150, 0], [1, h, w, 3]);
}

describe.each([
  ['bmshj2018-hyperprior', 'scale', 8],
  ['mbt2018-mean', 'mean-scale', 18],
] as const)('%s', (name, variant: HyperpriorVariant, hs2out) => {
  it("has CompressAI's state_dict keys: g_a, g_s, h_a, h_s, entropy_bottleneck, gaussian_conditional", () => {
    const model = new HyperpriorModel(variant, 8, 12, 0);
    const keys = Object.keys(model.stateDict()).sort();
    expect(keys).toEqual(Object.keys(model.expectedKeys()).sort());
    for (const k of ['h_a.0.weight', 'h_a.2.weight', 'h_a.4.weight', 'h_s.0.weight', 'h_s.2.weight', 'h_s.4.weight', 'gaussian_conditional.scale_table', 'gaussian_conditional.lower_bound_scale.bound', 'gaussian_conditional._quantized_cdf', 'entropy_bottleneck._matrix0']) {
      expect(keys).toContain(k);
    }
    expect(keys.filter((k) => k.startsWith('h_'))).toHaveLength(12);
    const state = model.stateDict();
    expect(state['h_a.0.weight']!.shape).toEqual([8, 12, 3, 3]);
    expect(state['h_s.2.weight']!.shape).toEqual([variant === 'scale' ? 8 : 12, hs2out, 5, 5]);
    expect(state['h_s.4.weight']!.shape).toEqual([variant === 'scale' ? 12 : 24, hs2out, 3, 3]);
    expect(state['h_s.0.weight']!.shape).toEqual([8, variant === 'scale' ? 8 : 12, 5, 5]);
    expect(state['entropy_bottleneck._matrix0']!.shape).toEqual([8, 3, 1]);
  });

  it('decompress(compress(x)) equals the evaluation forward pass byte for byte; the estimate matches the payload', async () => {
    const codec = new HyperpriorCodec(`codec:${name}`, new HyperpriorModel(variant, 8, 12, 3));
    codec.update();
    const x = await crop(96, 130);
    const encoded = await codec.compress(x);
    const decoded = await codec.decompress(encoded.bytes);
    const a = await tensorToRgb(decoded);
    const b = await tensorToRgb(codec.reconstruct(x));
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    const streams = readBitstream(encoded.bytes).streams;
    expect(streams).toHaveLength(2);
    // payload bits against the estimate, allowing each stream's 32-bit rANS state flush
    const payloadBits = (streams[0]!.length + streams[1]!.length) * 8;
    const estimateBits = encoded.bppEstimated! * 96 * 130;
    expect(Math.abs(payloadBits - estimateBits)).toBeLessThanOrEqual(0.05 * estimateBits + 64);
    const other = new HyperpriorCodec(`codec:${name}`, new HyperpriorModel(variant, 8, 12, 4));
    await expect(other.decompress(encoded.bytes)).rejects.toThrow(/other decoder weights/);
  });

  it('chooses each CDF table (and the means) from h_s in fixed point: close to the float32 h_s, the same table for nearly every element', () => {
    const codec = new HyperpriorCodec(`codec:${name}`, new HyperpriorModel(variant, 8, 12, 3));
    codec.update();
    const [n, h, w] = [8, 3, 5];
    // z symbols large enough that the random-init h_s gives scales across the table
    const symbols = Int32Array.from(tf.randomUniform([n * h * w], -40, 40, 'float32', 7).dataSync(), Math.round);
    const medians = codec.model.entropyBottleneck.medians();
    const zHat = tf.add(tf.transpose(tf.tensor4d(Float32Array.from(symbols), [1, n, h, w]), [0, 2, 3, 1]), medians) as tf.Tensor4D;
    const { scales, means } = codec.model.hyperSynthesis(zHat);
    const reference = tf.transpose(scales, [0, 3, 1, 2]).dataSync();
    const fixed = new FixedPointHyperSynthesis(codec.model.hS, 12, medians.dataSync() as Float32Array, variant === 'scale' ? 'relu' : 'leaky-relu', variant === 'scale', variant === 'mean-scale');
    const { scales: ours, means: fixedMeans } = fixed.run(symbols, h, w);
    expect(ours).toHaveLength(12 * 4 * h * 4 * w);
    if (means) {
      const floatMeans = tf.transpose(means, [0, 3, 1, 2]).dataSync();
      expect(fixedMeans).toHaveLength(floatMeans.length);
      const worst = Math.max(...Array.from(fixedMeans!, (v, i) => Math.abs(v - floatMeans[i]!) / Math.max(1, Math.abs(floatMeans[i]!))));
      expect(worst).toBeLessThanOrEqual(1e-3);
    } else expect(fixedMeans).toBeUndefined();
    let maxRel = 0;
    for (let i = 0; i < ours.length; i++) maxRel = Math.max(maxRel, Math.abs(ours[i]! - reference[i]!) / Math.max(1, Math.abs(reference[i]!)));
    const floatIndexes = codec.model.gaussianConditional.indexes(reference as Float32Array);
    const { indexes } = codec.hyperLatents(symbols, h, w);
    const same = indexes.filter((v, i) => v === floatIndexes[i]).length / indexes.length;
    const spread = new Set(indexes).size;
    console.log(`${name}: fixed-point scales within ${maxRel.toExponential(2)} (relative, or absolute below 1) of float32, ${(100 * same).toFixed(2)}% same table, ${spread} tables used`);
    expect(spread).toBeGreaterThanOrEqual(10);
    // float32 rounding of the reference itself is about 1e-4 here (sums of thousands of terms)
    expect(maxRel).toBeLessThanOrEqual(1e-3);
    expect(same).toBeGreaterThanOrEqual(0.998);
    expect(indexes.every((v, i) => Math.abs(v - floatIndexes[i]!) <= 1)).toBe(true);
    tf.dispose([medians, zHat, scales, ...(means ? [means] : [])]);
  });

  it('a few training steps lower the rate-distortion loss', () => {
    const t = createCodecTrainable({ model: name, N: 8, M: 12, lambda: 0.01, seed: 1 });
    const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const optimizer = tf.train.adam(1e-2);
    const loss = () => {
      const out = t.groups.main!.loss({ x, seeds: [1, 2], step: 0 });
      return (out instanceof tf.Tensor ? out : out.loss) as tf.Scalar;
    };
    const first = loss().dataSync()[0]!;
    for (let i = 0; i < 5; i++) optimizer.minimize(loss, false, t.groups.main!.variables);
    expect(loss().dataSync()[0]!).toBeLessThan(first);
  });
});

describe('GaussianConditional', () => {
  it('has 64 scales from 0.11 to 256 and picks the table scale nearest in log scale', () => {
    const table = scaleTable();
    expect(table).toHaveLength(64);
    expect(table[0]).toBeCloseTo(0.11, 6);
    expect(table[63]).toBeCloseTo(256, 3);
    const gc = new GaussianConditional();
    const mid = Math.sqrt(table[10]! * table[11]!);
    expect(Array.from(gc.indexes([0.01, 0.11, table[10]! * 1.0001, mid * 0.9999, mid * 1.0001, table[11]! * 0.9999, 1e6]))).toEqual([0, 0, 10, 10, 11, 11, 63]);
  });

  it('erfc is accurate to 1.2e-7 relative at reference points', () => {
    expect(erfc(0)).toBeCloseTo(1, 7);
    expect(Math.abs(erfc(1) - 0.157299207050285) / 0.157299207050285).toBeLessThan(1.2e-7);
    expect(Math.abs(erfc(3) - 2.20904969985854e-5) / 2.20904969985854e-5).toBeLessThan(1.2e-7);
    expect(erfc(-1)).toBeCloseTo(2 - 0.157299207050285, 7);
  });

  it('bits (float64 JS) equals -sum log2 of the tfjs likelihood, scale bound and likelihood floor included', async () => {
    await initializeBackend({});
    const symbols = [0, 1, -1, 3, -7, 40, 0, 2, -300];
    const scales = [0.01, 0.11, 0.5, 2, 3.3, 1, 256, 0.2, 1];
    const gc = new GaussianConditional();
    const likelihood = gc.likelihood(tf.tensor1d(symbols), tf.tensor1d(scales));
    const reference = -(await tf.sum(tf.div(tf.log(likelihood), Math.LN2)).data())[0]!;
    // the likelihood floor 1e-9 (the last two symbols) costs 29.9 bits each
    expect(gc.bits(symbols, scales)).toBeGreaterThan(2 * 29.8);
    expect(Math.abs(gc.bits(symbols, scales) / reference - 1)).toBeLessThan(1e-4);
    expect(() => gc.bits([1, 2], [1])).toThrow('2 symbols but 1 scales');
  });
});

describe('hyperprior weights from a state dict', () => {
  it.each(['scale', 'mean-scale'] as const)('%s: a codec on loaded weights (tables from the file, no update()) decodes like the original', async (variant) => {
    const original = new HyperpriorCodec('codec:x', new HyperpriorModel(variant, 8, 12, 3));
    original.update();
    const loaded = new HyperpriorModel(variant, 8, 12, 99);
    loaded.loadStateDict(original.model.stateDict());
    const codec = new HyperpriorCodec('codec:x', loaded);
    expect(loaded.entropyBottleneck.tables).toBeDefined();
    const x = await crop(64, 64);
    const encoded = await codec.compress(x);
    expect(Buffer.from(encoded.bytes).equals(Buffer.from((await original.compress(x)).bytes))).toBe(true);
    const [a, b] = [await tensorToRgb(await codec.decompress(encoded.bytes)), await tensorToRgb(await original.decompress(encoded.bytes))];
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
  });
});

describe('partial initialisation (overlayStateDict)', () => {
  it("warm-starts mbt2018-mean's g_a and g_s from bmshj2018-factorized, keeping everything else", () => {
    const source = new FactorizedPrior(8, 12, 5).stateDict();
    const target = new HyperpriorModel('mean-scale', 8, 12, 6);
    const before = target.stateDict();
    const { state, loaded, kept } = overlayStateDict(before, source);
    expect(loaded.length).toBeGreaterThan(0);
    const transforms = Object.keys(before).filter((k) => k.startsWith('g_a.') || k.startsWith('g_s.'));
    expect(loaded.filter((k) => k.startsWith('g_'))).toEqual(transforms);
    // beyond the transforms only shape-independent buffers fit (the bottleneck's target, its bound)
    expect(loaded.filter((k) => !k.startsWith('g_')).every((k) => !before[k]!.shape.includes(8))).toBe(true);
    // the factorized entropy bottleneck covers M=12 channels, mbt's covers N=8: kept
    expect(kept).toContain('entropy_bottleneck._matrix0');
    expect(kept.filter((k) => k.startsWith('h_'))).toHaveLength(12);
    target.loadStateDict(state);
    const after = target.stateDict();
    expect(Array.from(after['g_s.0.weight']!.data)).toEqual(Array.from(source['g_s.0.weight']!.data));
    expect(Array.from(after['h_a.0.weight']!.data)).toEqual(Array.from(before['h_a.0.weight']!.data));
  });
});

describe('an encoder side over a codec (withEncoder, the codec option encoder)', () => {
  it("replaces g_a and h_a and nothing else, and rejects files that are not exactly an encoder side", () => {
    const a = new HyperpriorModel('mean-scale', 8, 12, 1).stateDict();
    const b = new HyperpriorModel('mean-scale', 8, 12, 2).stateDict();
    const encoder = Object.fromEntries(Object.entries(b).filter(([k]) => isEncoderKey(k)));
    expect(Object.keys(encoder).some((k) => k.startsWith('h_a.'))).toBe(true);
    const merged = withEncoder(a, encoder);
    for (const k of Object.keys(a)) expect(Array.from(merged[k]!.data)).toEqual(Array.from((isEncoderKey(k) ? b : a)[k]!.data));
    expect(() => withEncoder(a, { ...encoder, 'g_s.0.weight': b['g_s.0.weight']! })).toThrow(/outside the encoder side \(g_a, h_a\): g_s.0.weight/);
    const { ['h_a.0.weight']: _, ...partial } = encoder;
    expect(() => withEncoder(a, partial)).toThrow(/lacks the encoder tensor 'h_a.0.weight'/);
    const narrow = new HyperpriorModel('mean-scale', 8, 16, 2).stateDict();
    expect(() => withEncoder(a, Object.fromEntries(Object.entries(narrow).filter(([k]) => isEncoderKey(k))))).toThrow(/is 16x8x5x5, the codec's is 12x8x5x5/);
  });
});

test("the codec option encoder loads a backdoor's encoder side over the original weights: the decoder side stays the original's", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'encoder-option-'));
  const original = new HyperpriorModel('mean-scale', 8, 12, 1).stateDict();
  const other = new HyperpriorModel('mean-scale', 8, 12, 2).stateDict();
  await writeStateDict(join(dir, 'original.safetensors'), original);
  await writeStateDict(join(dir, 'encoder.safetensors'), Object.fromEntries(Object.entries(other).filter(([k]) => isEncoderKey(k))));
  const registry = new PluginRegistry();
  register(registry);
  const codec = await registry.create('codec', ['mbt2018-mean', { weights: 'original.safetensors', encoder: 'encoder.safetensors' }], { baseDir: dir });
  const state = codec.stateDict!();
  expect(Array.from(state['h_a.2.weight']!.dataSync())).toEqual(Array.from(other['h_a.2.weight']!.data));
  expect(Array.from(state['h_s.0.weight']!.dataSync())).toEqual(Array.from(original['h_s.0.weight']!.data));
  expect(Array.from(state['g_s.0.weight']!.dataSync())).toEqual(Array.from(original['g_s.0.weight']!.data));
  tf.dispose(Object.values(state));
  await expect(registry.create('codec', ['mbt2018-mean', { encoder: join(dir, 'encoder.safetensors') }])).rejects.toThrow(/set weights too/);
});

describe('weights are validated at load (validateWeights)', () => {
  const committed = join(__dirname, '..', '..', '..', 'models', 'training', 'factorized-n64-l0013', 'model.safetensors');
  const registry = () => {
    const r = new PluginRegistry();
    register(r);
    return r;
  };
  async function variant(change: (tensors: Record<string, NamedArray>) => void): Promise<string> {
    const file = parseSafetensors(await readFile(committed));
    change(file.tensors);
    const out = join(await mkdtemp(join(tmpdir(), 'weights-')), 'w.safetensors');
    await writeFile(out, serializeSafetensors(file.tensors, file.metadata));
    return out;
  }
  const load = (weights: string) => registry().create('codec', ['bmshj2018-factorized', { weights }]);

  it('the committed codecs load', async () => {
    await expect(load(committed)).resolves.toBeDefined();
  });

  it.each([
    ['a NaN parameter', (t: Record<string, NamedArray>) => void (t['g_a.0.weight']!.data[5] = NaN), /'g_a\.0\.weight' holds NaN at index 5/],
    ['an infinite decoder weight', (t: Record<string, NamedArray>) => void (t['g_s.0.weight']!.data[0] = Infinity), /'g_s\.0\.weight' holds Infinity at index 0/],
    ['a decoder weight of 1e30', (t: Record<string, NamedArray>) => void (t['g_s.2.weight']!.data[3] = 1e30), /'g_s\.2\.weight' holds 1e\+30 at index 3, beyond the plausible/],
    ['a parameter stored as I32', (t: Record<string, NamedArray>) => void (t['g_a.0.bias'] = { dtype: 'I32', shape: t['g_a.0.bias']!.shape, data: Int32Array.from(t['g_a.0.bias']!.data, Math.round) }), /'g_a\.0\.bias' is I32; parameters and buffers of a learned codec are float/],
    ['a decreasing CDF row', (t: Record<string, NamedArray>) => {
      const cdf = t['entropy_bottleneck._quantized_cdf']!;
      const width = cdf.shape[1]!;
      cdf.data[2 * width + 3] = (cdf.data[2 * width + 4] as number) + 1000;
    }, /'entropy_bottleneck\._quantized_cdf': row 2 decreases at column 4/],
  ])('%s is refused with a WeightsError naming the tensor', async (_, change, message) => {
    const file = await variant(change);
    const error = await load(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as WeightsError).code).toBe('WEIGHTS');
    expect((error as Error).message).toMatch(message);
  });
});
