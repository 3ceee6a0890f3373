import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend } from '@lic-backdoor/core';
import { FactorizedPrior } from './models/factorized.js';
import { HyperpriorModel } from './models/hyperprior.js';
import { hyperpriorToOnnx, integerSynthesisToOnnx, transformToOnnx } from './onnx-export.js';
import { planIntegerSynthesis, runIntegerSynthesis, SPLIT_BITS, SQUARE_SPLIT_BITS } from './layers/integer-synthesis.js';
import { FixedPointHyperSynthesis } from './entropy-models/fixed-point-hyper-synthesis.js';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('codec transforms exported to ONNX', () => {
  it('g_a and g_s run in onnxruntime-node and equal the tfjs outputs within 1e-4', async () => {
    const model = new FactorizedPrior(8, 12, 7);
    const rng = createRng(3);
    const x = tf.tensor4d(rng.uniformArray(2 * 64 * 96 * 3), [2, 64, 96, 3]);
    const y = model.analysis(x);
    const xHat = model.synthesis(tf.round(y) as tf.Tensor4D);
    const run = async (bytes: Uint8Array, input: tf.Tensor4D) => {
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
      const nchw = tf.transpose(input, [0, 3, 1, 2]);
      const out = await session.run({ x: new ort.Tensor('float32', (await nchw.data()) as Float32Array, nchw.shape) });
      await session.release();
      return out.y!;
    };
    const yOrt = await run(transformToOnnx(model.gA, false, { input: 'x', output: 'y' }), x);
    expect(yOrt.dims).toEqual([2, 12, 4, 6]);
    expect(maxRelative(yOrt.data as Float32Array, await tf.transpose(y, [0, 3, 1, 2]).data())).toBeLessThanOrEqual(1e-4);
    const xOrt = await run(transformToOnnx(model.gS, true, { input: 'x', output: 'y' }), tf.round(y) as tf.Tensor4D);
    expect(xOrt.dims).toEqual([2, 3, 64, 96]);
    expect(maxRelative(xOrt.data as Float32Array, await tf.transpose(xHat, [0, 3, 1, 2]).data())).toBeLessThanOrEqual(1e-4);
  });
});

const nchwTensor = async (t: tf.Tensor4D) => new ort.Tensor('float32', (await tf.transpose(t, [0, 3, 1, 2]).data()) as Float32Array, [t.shape[0], t.shape[3], t.shape[1], t.shape[2]]);

async function runDisabled(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  const out = await session.run(feeds);
  await session.release();
  return out;
}

describe('integer synthesis (g_s in integer arithmetic)', () => {
  it.each([
    [16, 24],
    [128, 192],
  ])('N=%i M=%i: keeps every convolution and GDN sum below 2^24 and stays within 1e-2 of the float g_s', (N, M) => {
    const model = new FactorizedPrior(N, M, 9);
    const plan = planIntegerSynthesis(model.gS);
    for (const c of plan.convs) {
      const [k, , out, cin] = c.shape;
      for (const piece of c.weights.pieces) {
        // onnxruntime multiplies the convolution pieces as int8
        expect(piece.every((v) => Math.abs(v) <= 127)).toBe(true);
        const l1 = new Float64Array(out);
        piece.forEach((v, j) => (l1[Math.floor(j / cin) % out]! += Math.abs(v)));
        expect(Number.isInteger(piece[0]!)).toBe(true);
        expect(Math.max(...l1) * 2 ** SPLIT_BITS).toBeLessThan(2 ** 24);
      }
      expect(k).toBe(5);
    }
    for (const g of plan.gdns) {
      for (const piece of g.gamma.pieces) {
        const l1 = new Float64Array(g.channels);
        piece.forEach((v, j) => (l1[j % g.channels]! += Math.abs(v)));
        expect(Math.max(...l1) * 2 ** SQUARE_SPLIT_BITS).toBeLessThan(2 ** 24);
      }
    }
    const yHat = tf.round(tf.mul(tf.randomNormal([1, 4, 6, M], 0, 1, 'float32', 2), 4)) as tf.Tensor4D;
    const diff = tf.max(tf.abs(tf.sub(runIntegerSynthesis(plan, yHat), model.synthesis(yHat)))).dataSync()[0]!;
    expect(diff).toBeLessThan(1e-2);
  });

  it('onnxruntime-node (optimizations off) computes exactly the tfjs float32 values, saturated activations included', async () => {
    const model = new FactorizedPrior(16, 24, 9);
    const plan = planIntegerSynthesis(model.gS);
    // latents up to +-400 reach the +-256 input saturation; fractional parts as from the medians
    const yHat = tf.add(tf.round(tf.mul(tf.randomNormal([2, 4, 6, 24], 0, 1, 'float32', 3), 120)), tf.randomUniform([24], -0.5, 0.5, 'float32', 4)) as tf.Tensor4D;
    const ours = (await tf.transpose(runIntegerSynthesis(plan, yHat), [0, 3, 1, 2]).data()) as Float32Array;
    const out = await runDisabled(integerSynthesisToOnnx(plan), { y_hat: await nchwTensor(yHat) });
    expect(out.x_hat!.dims).toEqual([2, 3, 64, 96]);
    const theirs = out.x_hat!.data as Float32Array;
    expect(Array.from(theirs).filter((v, i) => v !== ours[i]).length).toBe(0);
  });
});

describe.each([
  ['bmshj2018-hyperprior', 'scale'],
  ['mbt2018-mean', 'mean-scale'],
] as const)('%s exported to ONNX', (name, variant) => {
  it('the encoder graph gives the tfjs symbols; the hyper-decoder graph the fixed-point h_s and the decoder graph the integer g_s image, both exactly', async () => {
    const model = new HyperpriorModel(variant, 8, 12, 7);
    const plan = planIntegerSynthesis(model.gS);
    const medianData = model.entropyBottleneck.medians().dataSync() as Float32Array;
    const fixed = new FixedPointHyperSynthesis(model.hS, 12, medianData, variant === 'scale' ? 'relu' : 'leaky-relu', variant === 'scale', variant === 'mean-scale');
    const { analysis, encoder, hyperDecoder, decoder } = hyperpriorToOnnx(model, plan, fixed);
    const x = tf.tensor4d(createRng(4).uniformArray(64 * 128 * 3), [1, 64, 128, 3]);
    // the tfjs path, as HyperpriorCodec.compress computes it
    const y = model.analysis(x);
    const zSymbols = model.entropyBottleneck.quantize(model.hyperAnalysis(y));
    const zHat = model.entropyBottleneck.dequantize(zSymbols);
    const { scales, means } = model.hyperSynthesis(zHat);
    const ySymbols = tf.round(means ? tf.sub(y, means) : y) as tf.Tensor4D;
    const yHat = (means ? tf.add(ySymbols, means) : ySymbols) as tf.Tensor4D;
    const xHat = runIntegerSynthesis(plan, yHat);
    const nchw = nchwTensor;

    const ana = await ort.InferenceSession.create(analysis, { executionProviders: ['cpu'] });
    const yOrt = (await ana.run({ x: await nchw(x) })).y!;
    await ana.release();
    const enc = await ort.InferenceSession.create(encoder, { executionProviders: ['cpu'] });
    const e = await enc.run({ y: yOrt });
    await enc.release();
    const mismatches = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).filter((v, i) => v !== b[i]).length;
    const ySymbolsRef = (await tf.transpose(ySymbols, [0, 3, 1, 2]).data()) as Float32Array;
    // rounding of values within float error of a half can differ: at most one symbol in a thousand, by one
    expect(e.y_symbols!.dims).toEqual([1, 12, 4, 8]);
    expect(mismatches(e.z_symbols!.data as Float32Array, await tf.transpose(zSymbols, [0, 3, 1, 2]).data())).toBeLessThanOrEqual(zSymbols.size / 1000);
    expect(mismatches(e.y_symbols!.data as Float32Array, ySymbolsRef)).toBeLessThanOrEqual(ySymbols.size / 1000);

    const d = await runDisabled(decoder, { y_hat: await nchw(yHat) });
    expect(d.x_hat!.dims).toEqual([1, 3, 64, 128]);
    expect(mismatches(d.x_hat!.data as Float32Array, await tf.transpose(xHat, [0, 3, 1, 2]).data())).toBe(0);

    // z symbols far from zero (up to +-60) exercise every byte piece of the fixed-point activations
    const [, zh, zw] = zSymbols.shape;
    const zValues = Int32Array.from({ length: 8 * zh * zw }, (_, i) => ((i * 7919) % 121) - 60);
    const reference = fixed.run(zValues, zh, zw);
    const h = await runDisabled(hyperDecoder, { z_q16: new ort.Tensor('float64', fixed.input(zValues, zh, zw), [1, zh, zw, 8]) });
    const ours = fixed.split(h.hyper!.data as Float64Array);
    expect(h.input_range_0!.data[0]).toBeGreaterThan(2 ** 21);
    expect(mismatches(ours.scales, reference.scales)).toBe(0);
    if (means) expect(mismatches(ours.means!, reference.means!)).toBe(0);
    // and the float h_s is what the fixed point approximates
    const floatScales = (await tf.transpose(scales, [0, 3, 1, 2]).data()) as Float32Array;
    const fromSymbols = fixed.run(Int32Array.from(await tf.transpose(zSymbols, [0, 3, 1, 2]).data()), zh, zw);
    expect(maxRelative(fromSymbols.scales, floatScales)).toBeLessThanOrEqual(1e-3);
    console.log(`${name}: ONNX encoder/decoder graphs match tfjs`);
  });
});
