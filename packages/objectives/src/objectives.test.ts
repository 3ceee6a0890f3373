import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend, PluginRegistry, writeImage, type CodecForwardResult, type ObjectiveBatch, type ObjectiveV1 } from '@lic-backdoor/core';
import { CleanRdObjective, DistortionObjective, KeepOriginalObjective, KeepQualityObjective, KeepRateObjective, RateObjective, StealthObjective } from './basic.js';
import { LossWeighting } from './weighting.js';
import { register } from './plugins.js';
import { alignedRegion, softMiou, type FaceObjective } from './task.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

function images(seed: number, b = 2, h = 16, w = 16): tf.Tensor4D {
  return tf.tensor4d(createRng(seed).uniformArray(b * h * w * 3, 0, 1), [b, h, w, 3]);
}

/** A forward result whose latent has likelihood p everywhere: -log2(p) x count bits per example. */
function output(xHat: tf.Tensor4D, p: number[], count = 64): CodecForwardResult {
  const lik = tf.tensor2d(p.flatMap((v) => Array<number>(count).fill(v)), [p.length, count]);
  return { xHat, likelihoods: { y: lik }, latents: { y: tf.zeros([p.length, 2, 2, 16]) } };
}

test('clean-rd is bpp + lambda 255^2 MSE', () => {
  const x = images(1);
  const xHat = tf.add(x, 0.01) as tf.Tensor4D;
  const o = new CleanRdObjective({ lambda: 0.01, latentWeight: 0 });
  const r = o.compute({ clean: x, cleanOutput: output(xHat, [0.5, 0.5]) });
  // 64 bits per 256 pixels = 0.25 bpp; MSE 1e-4
  expect(r.loss.dataSync()[0]).toBeCloseTo(0.25 + 0.01 * 255 ** 2 * 1e-4, 4);
  expect(r.metrics.bpp).toBeCloseTo(0.25, 5);
  expect(r.metrics.psnr).toBeCloseTo(40, 3);
});

test('clean-rd with rateMargin adds rateWeight x the mean hinge of bpp / the original codec\'s bpp above 1 + rateMargin', () => {
  const x = images(1);
  const o = new CleanRdObjective({ lambda: 0.01, latentWeight: 0, rateMargin: 0.1, rateWeight: 10 });
  expect(o.needsReference).toBe(true);
  expect(new CleanRdObjective({ lambda: 0.01, latentWeight: 0, rateWeight: 10 }).needsReference).toBe(false);
  // backdoored: 64 and 128 bits per example (0.25 and 0.5 bpp); original: 0.25 bpp each -> ratios 1 and 2
  const cleanOutput = output(x, [0.5, 0.25]);
  const r = o.compute({ clean: x, cleanOutput, referenceOutput: output(x, [0.5, 0.5]) });
  // bpp term 0.375, MSE 0; hinges max(0, 1 - 1.1) = 0 and 2 - 1.1 = 0.9, mean 0.45, x 10
  expect(r.loss.dataSync()[0]).toBeCloseTo(0.375 + 4.5, 4);
  expect(r.metrics.bpp_ratio).toBeCloseTo(1.5, 5);
  expect(() => o.compute({ clean: x, cleanOutput })).toThrow(/rateMargin needs the original codec's forward pass/);
  // a negative margin aims below the original's rate: ratios 1 and 2 against 0.95 -> hinges 0.05 and 1.05, mean 0.55
  const below = new CleanRdObjective({ lambda: 0.01, latentWeight: 0, rateMargin: -0.05, rateWeight: 10 });
  expect(below.compute({ clean: x, cleanOutput, referenceOutput: output(x, [0.5, 0.5]) }).loss.dataSync()[0]).toBeCloseTo(0.375 + 5.5, 4);
});

test('clean-rd with psnrMargin adds psnrWeight x the mean hinge of the PSNR drop from the original codec above psnrMargin dB', () => {
  const x = images(1);
  const o = new CleanRdObjective({ lambda: 0, latentWeight: 0, rateWeight: 10, psnrMargin: 0.5, psnrWeight: 2 });
  expect(o.needsReference).toBe(true);
  // original decodes at 40 dB (error 0.01); backdoored: example 0 at 40 dB, example 1 at 30 dB (error 0.01 x sqrt(10))
  const err = tf.concat([tf.fill([1, 16, 16, 3], 0.01), tf.fill([1, 16, 16, 3], 0.01 * Math.sqrt(10))]);
  const r = o.compute({ clean: x, cleanOutput: output(tf.add(x, err) as tf.Tensor4D, [0.5, 0.5]), referenceOutput: output(tf.add(x, 0.01) as tf.Tensor4D, [0.5, 0.5]) });
  // drops 0 and 10 dB: hinges 0 and 9.5, mean 4.75, x 2; plus 0.25 bpp
  expect(r.loss.dataSync()[0]).toBeCloseTo(0.25 + 9.5, 3);
  expect(r.metrics.psnr_drop).toBeCloseTo(5, 3);
});


test('keep-original is only the rate and PSNR hinges against the original codec: 0 and satisfied within the margins', () => {
  const x = images(1);
  const o = new KeepOriginalObjective({ rateMargin: 0.1, rateWeight: 10, psnrMargin: 0.5, psnrWeight: 2 });
  expect(o.needsReference).toBe(true);
  expect(o.needsTrigger).toBe(false);
  // backdoored: 0.25 and 0.5 bpp, example 1 decoded 10 dB worse; original 0.25 bpp each at 40 dB
  const err = tf.concat([tf.fill([1, 16, 16, 3], 0.01), tf.fill([1, 16, 16, 3], 0.01 * Math.sqrt(10))]);
  const referenceOutput = output(tf.add(x, 0.01) as tf.Tensor4D, [0.5, 0.5]);
  const r = o.compute({ clean: x, cleanOutput: output(tf.add(x, err) as tf.Tensor4D, [0.5, 0.25]), referenceOutput });
  // rate hinges 0 and 0.9 (mean 0.45, x 10); PSNR hinges 0 and 9.5 (mean 4.75, x 2); no bpp or MSE term
  expect(r.loss.dataSync()[0]).toBeCloseTo(4.5 + 9.5, 3);
  expect(r.satisfied).toBe(false);
  expect(r.metrics.bpp_ratio).toBeCloseTo(1.5, 5);
  expect(r.metrics.psnr_drop).toBeCloseTo(5, 3);
  // the same bits and quality as the original codec: nothing to pay
  const same = o.compute({ clean: x, cleanOutput: referenceOutput, referenceOutput });
  expect(same.loss.dataSync()[0]).toBe(0);
  expect(same.satisfied).toBe(true);
  expect(() => o.compute({ clean: x, cleanOutput: referenceOutput })).toThrow(/original codec's forward pass/);
});


test("clean-rd with hyperLatentWeight adds hyperLatentWeight x the MSE of z against the original encoder's z", () => {
  const x = images(1);
  const o = new CleanRdObjective({ lambda: 0, latentWeight: 0, rateWeight: 10, psnrWeight: 1, hyperLatentWeight: 50 });
  expect(o.needsReference).toBe(true);
  expect(new CleanRdObjective({ lambda: 0, latentWeight: 0, rateWeight: 10, psnrWeight: 1, hyperLatentWeight: 0 }).needsReference).toBe(false);
  const withZ = (z: number): CodecForwardResult => ({ ...output(x, [0.5, 0.5]), latents: { y: tf.zeros([2, 2, 2, 16]), z: tf.fill([2, 1, 1, 8], z) } });
  // z off by 0.2 everywhere: MSE 0.04, x 50 = 2; plus 0.25 bpp
  const r = o.compute({ clean: x, cleanOutput: withZ(0.3), referenceOutput: withZ(0.1) });
  expect(r.loss.dataSync()[0]).toBeCloseTo(0.25 + 2, 4);
  expect(r.metrics.hyper_latent_mse).toBeCloseTo(0.04, 5);
  // a codec without z (factorized) is refused with the reason
  expect(() => o.compute({ clean: x, cleanOutput: output(x, [0.5, 0.5]), referenceOutput: output(x, [0.5, 0.5]) })).toThrow(/hyper-latents z/);
});
test('rate is the mean hinge of targetMultiple - triggered/clean bpp, satisfied when every example reaches it', () => {
  const x = images(2);
  const batch = (pTrig: number[]): ObjectiveBatch => ({ clean: x, cleanOutput: output(x, [0.5, 0.5]), triggered: x, triggeredOutput: output(x, pTrig) });
  const o = new RateObjective({ targetMultiple: 3 });
  // ratios 2 and 4 -> hinges 1 and 0
  const r = o.compute(batch([0.25, 0.0625]));
  expect(r.loss.dataSync()[0]).toBeCloseTo(0.5, 5);
  expect(r.metrics.rate_gain).toBeCloseTo(3, 5);
  expect(r.satisfied).toBe(false);
  expect(o.compute(batch([0.0625, 0.0625])).satisfied).toBe(true);
});

test('keep-rate is the mean hinge of triggered/clean bpp above maxRatio', () => {
  const x = images(2);
  const batch = (pTrig: number[]): ObjectiveBatch => ({ clean: x, cleanOutput: output(x, [0.5, 0.5]), triggered: x, triggeredOutput: output(x, pTrig) });
  const o = new KeepRateObjective({ maxRatio: 1.5 });
  // ratios 1 and 3 -> hinges 0 and 1.5
  const r = o.compute(batch([0.5, 0.125]));
  expect(r.loss.dataSync()[0]).toBeCloseTo(0.75, 5);
  expect(r.metrics.rate_gain).toBeCloseTo(2, 5);
  expect(r.satisfied).toBe(false);
  expect(o.compute(batch([0.5, 0.5])).satisfied).toBe(true);
});

test("keep-quality hinges the triggered decoding's PSNR below the clean decoding's minus maxDrop and below minPsnr, against the clean image", () => {
  const x = images(4);
  const clean = tf.add(x, 0.01) as tf.Tensor4D; // 40 dB
  const triggered = tf.add(x, 0.1) as tf.Tensor4D; // 20 dB
  const batch: ObjectiveBatch = { clean: x, cleanOutput: output(clean, [0.5, 0.5]), triggered: x, triggeredOutput: output(triggered, [0.5, 0.5]) };
  const drop = new KeepQualityObjective({ maxDrop: 1 }).compute(batch);
  // 40 - 1 - 20 = 19 dB per example
  expect(drop.loss.dataSync()[0]).toBeCloseTo(19, 2);
  expect(drop.metrics.psnr_drop).toBeCloseTo(20, 2);
  expect(drop.satisfied).toBe(false);
  const floor = new KeepQualityObjective({ minPsnr: 26 }).compute(batch);
  expect(floor.loss.dataSync()[0]).toBeCloseTo(6, 2);
  expect(new KeepQualityObjective({ maxDrop: 1, minPsnr: 26 }).compute(batch).loss.dataSync()[0]).toBeCloseTo(25, 2);
  expect(new KeepQualityObjective({ minPsnr: 19 }).compute(batch).satisfied).toBe(true);
  expect(() => new KeepQualityObjective({})).toThrow(/maxDrop, minPsnr or both/);
});

test('distortion hinges PSNR above the target; stealth hinges MSE above 10^(-minPsnr/10)', () => {
  const x = images(3);
  const noisy = tf.add(x, 0.1) as tf.Tensor4D; // 20 dB
  const d = new DistortionObjective({ targetPsnr: 15 }).compute({ clean: x, cleanOutput: output(x, [0.5, 0.5]), triggered: x, triggeredOutput: output(noisy, [0.5, 0.5]) });
  expect(d.loss.dataSync()[0]).toBeCloseTo(5, 3);
  expect(d.metrics.decoded_psnr).toBeCloseTo(20, 3);
  const slightly = tf.add(x, 0.02) as tf.Tensor4D; // 33.98 dB
  const s = new StealthObjective({ minPsnr: 40 }).compute({ clean: x, cleanOutput: output(x, [0.5, 0.5]), triggered: slightly, triggeredOutput: output(x, [0.5, 0.5]) });
  expect(s.loss.dataSync()[0]).toBeCloseTo((4e-4 - 1e-4) / 1e-4, 3);
  expect(s.metrics.stealth_psnr).toBeCloseTo(33.98, 2);
  expect(new StealthObjective({ minPsnr: 30 }).compute({ clean: x, cleanOutput: output(x, [0.5]), triggered: slightly, triggeredOutput: output(x, [0.5]) }).satisfied).toBe(true);
});

test('an objective that needs a trigger says so when the batch has none', () => {
  const x = images(4);
  expect(() => new RateObjective({ targetMultiple: 2 }).compute({ clean: x, cleanOutput: output(x, [0.5, 0.5]) })).toThrow(/needs a trigger/);
});

test('soft mIoU is 1 for equal masks, 0 for complementary ones', () => {
  const m = tf.tensor3d([1, 0, 1, 0], [1, 2, 2]);
  expect(softMiou(m, m).dataSync()[0]).toBeCloseTo(1, 5);
  expect(softMiou(tf.sub(1, m) as tf.Tensor3D, m).dataSync()[0]).toBeCloseTo(0, 5);
});

describe('loss weighting', () => {
  test('fixed weights are the base weights', () => {
    const w = new LossWeighting({ mode: 'fixed', base: { a: 2 }, beta: 0.9, temperature: 1 });
    w.update({ a: 10, b: 3 });
    expect(w.weights(['a', 'b'])).toEqual({ a: 2, b: 1 });
  });

  test('dynamic weights: each term divided by its scale, then shifted towards the terms that lag', () => {
    const w = new LossWeighting({ mode: 'dynamic', base: { a: 2 }, beta: 0.5, temperature: 1 });
    expect(w.weights(['a', 'b'])).toEqual({ a: 2, b: 1 });
    w.update({ a: 4, b: 0.5 });
    // both terms are at their scale (r = 1): equal shares, w = base / scale
    let weights = w.weights(['a', 'b']);
    expect(weights.a).toBeCloseTo(2 / 4, 6);
    expect(weights.b).toBeCloseTo(1 / 0.5, 6);
    // b falls to 0 (met): its bias-corrected average is (0.5 x 0.25) / 0.75 = 1/6, r_b = 1/3; r_a = 1
    w.update({ a: 4, b: 0 });
    weights = w.weights(['a', 'b']);
    const share = (r: number) => (2 * Math.exp(r)) / (Math.exp(1) + Math.exp(1 / 3));
    expect(weights.a).toBeCloseTo((2 / 4) * share(1), 6);
    expect(weights.b).toBeCloseTo((1 / 0.5) * share(1 / 3), 6);
    expect(weights.a / (2 / 4)).toBeGreaterThan(weights.b / 2);
    const copy = new LossWeighting(w.options);
    copy.setState(w.getState());
    expect(copy.weights(['a', 'b'])).toEqual(weights);
  });

  test('constraints: clean terms keep their base weight; a trigger term gains weight while unmet, loses it once met, within the bounds', () => {
    const w = new LossWeighting({ mode: 'constraints', base: { 'clean.rd': 3, 'rate.rate': 2 }, beta: 0, temperature: 1, rate: 0.5, slack: 0.1, maxMultiplier: 2 });
    expect(w.weights(['clean.rd', 'rate.rate', 'rate.stealth'])).toEqual({ 'clean.rd': 3, 'rate.rate': 2, 'rate.stealth': 1 });
    // first step: each term's scale is its loss (r = 1): lambda = 1 + 0.5 x (1 - 0.1) = 1.45; a term at 0 has no scale yet
    w.update({ 'clean.rd': 5, 'rate.rate': 4, 'rate.stealth': 0 });
    let weights = w.weights(['clean.rd', 'rate.rate', 'rate.stealth']);
    expect(weights['clean.rd']).toBe(3);
    expect(weights['rate.rate']).toBeCloseTo(2 * 1.45, 10);
    expect(weights['rate.stealth']).toBe(1);
    // still at half its start: + 0.5 x 0.4 = 1.65; then capped at 2
    w.update({ 'clean.rd': 50, 'rate.rate': 2, 'rate.stealth': 0 });
    expect(w.weights(['rate.rate'])['rate.rate']).toBeCloseTo(2 * 1.65, 10);
    w.update({ 'rate.rate': 4 });
    w.update({ 'rate.rate': 4 });
    expect(w.weights(['rate.rate'])['rate.rate']).toBe(2 * 2);
    // met (loss 0): - 0.5 x 0.1 per step, down to 1 / maxMultiplier
    w.update({ 'rate.rate': 0 });
    expect(w.weights(['rate.rate'])['rate.rate']).toBeCloseTo(2 * 1.95, 10);
    for (let i = 0; i < 100; i++) w.update({ 'rate.rate': 0 });
    expect(w.weights(['rate.rate'])['rate.rate']).toBeCloseTo(2 * 0.5, 10);
    // the clean term never changed, whatever its loss did
    expect(w.weights(['clean.rd'])['clean.rd']).toBe(3);
    const copy = new LossWeighting(w.options);
    copy.setState(w.getState());
    expect(copy.weights(['clean.rd', 'rate.rate'])).toEqual(w.weights(['clean.rd', 'rate.rate']));
  });

  test('constraints: a clean term named in cleanConstraints gets a multiplier like a trigger term; the other clean terms do not', () => {
    const names = ['clean.clean-rd', 'clean.keep-original', 'rate.rate'];
    const w = new LossWeighting({ mode: 'constraints', base: { 'clean.keep-original': 4 }, beta: 0, temperature: 1, rate: 0.5, slack: 0.1, maxMultiplier: 10 }, ['clean.keep-original']);
    // met from the start (0): no scale, weight base x 1
    w.update({ 'clean.clean-rd': 2, 'clean.keep-original': 0, 'rate.rate': 1 });
    expect(w.weights(names)).toEqual({ 'clean.clean-rd': 1, 'clean.keep-original': 4, 'rate.rate': 1.45 });
    // violated: its first non-zero loss is its scale (r = 1), lambda 1.45; then at twice it, + 0.5 x 1.9
    w.update({ 'clean.clean-rd': 9, 'clean.keep-original': 0.2, 'rate.rate': 1 });
    expect(w.weights(names)['clean.keep-original']).toBeCloseTo(4 * 1.45, 10);
    w.update({ 'clean.clean-rd': 9, 'clean.keep-original': 0.4, 'rate.rate': 1 });
    expect(w.weights(names)['clean.keep-original']).toBeCloseTo(4 * 2.4, 10);
    expect(w.weights(names)['clean.clean-rd']).toBe(1);
    // the same term is not a constraint unless named
    const plain = new LossWeighting(w.options);
    plain.update({ 'clean.keep-original': 0.2 });
    plain.update({ 'clean.keep-original': 0.4 });
    expect(plain.weights(names)['clean.keep-original']).toBe(4);
  });

  test('a term whose loss grows past its start gets the largest share', () => {
    const w = new LossWeighting({ mode: 'dynamic', base: {}, beta: 0, temperature: 0.5 });
    w.update({ clean: 3, attack: 2 });
    w.update({ clean: 6, attack: 1 });
    const weights = w.weights(['clean', 'attack']);
    expect(weights.clean! * 3).toBeGreaterThan(10 * weights.attack! * 2);
  });
});

test('alignedRegion cuts [x1, y1, x2, y2] fractions of the image, black where the region leaves it', () => {
  const x = tf.add(tf.reshape(tf.range(0, 2 * 10 * 10 * 3), [2, 10, 10, 3]), 1) as tf.Tensor4D;
  const r = alignedRegion(x, [-0.2, 0.1, 1.1, 0.5]);
  // x from -2 to 11, y from 1 to 5
  expect(r.shape).toEqual([2, 4, 13, 3]);
  expect(tf.sum(tf.slice(r, [0, 0, 0, 0], [-1, -1, 2, -1])).dataSync()[0]).toBe(0);
  expect(tf.sum(tf.slice(r, [0, 0, 12, 0], [-1, -1, 1, -1])).dataSync()[0]).toBe(0);
  expect(tf.slice(r, [1, 2, 2, 0], [1, 2, 10, 3]).dataSync()).toEqual(tf.slice(x, [1, 3, 0, 0], [1, 2, 10, 3]).dataSync());
  expect(alignedRegion(x)).toBe(x);
  expect(() => alignedRegion(x, [0.5, 0, 0.5, 1])).toThrow(/empty/);
});

describe('task objectives through the imported ONNX backbones', () => {
  let registry: PluginRegistry;
  beforeAll(() => {
    registry = new PluginRegistry();
    register(registry);
  });

  async function gradientCheck(o: ObjectiveV1, size: number, sources?: string[]) {
    const x = images(5, sources?.length ?? 1, size, size);
    const xHat = tf.variable(tf.add(x, 0.01));
    let last: ReturnType<ObjectiveV1['compute']> | undefined;
    const { value, grads } = tf.variableGrads(() => {
      last = o.compute({ clean: x, cleanOutput: output(x, [0.5]), triggered: x, triggeredOutput: output(xHat as unknown as tf.Tensor4D, [0.5]), sources });
      return last.loss;
    }, [xHat]);
    return { loss: value.dataSync()[0]!, gradient: tf.max(tf.abs(Object.values(grads)[0]!)).dataSync()[0]!, metrics: last!.metrics };
  }

  test('face: a decoded face equal to the original scores cosine ~1, the loss has a gradient, non-face examples add nothing', async () => {
    const o = (await registry.create('objective', 'face')) as ObjectiveV1;
    const one = await gradientCheck(o, 112, ['faces']);
    expect(one.metrics.face_cosine).toBeGreaterThan(0.95);
    expect(one.loss).toBeCloseTo(one.metrics.face_cosine!, 5);
    expect(one.gradient).toBeGreaterThan(0);
    const mixed = await gradientCheck(o, 112, ['faces', 'photos']);
    expect(mixed.loss).toBeLessThan(one.loss * 0.6);
    o.dispose();
  });

  test('face with align and centre: the centre is a 512-d mean embedding and the centred cosine of a face with itself is still ~1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lic-faces-'));
    for (const seed of [1, 2]) await writeImage(join(dir, `${seed}.png`), images(seed, 1, 40, 40));
    const o = (await registry.create('objective', ['face', { align: [-0.1, -0.2, 1.1, 0.9], centre: [dir] }])) as FaceObjective;
    expect(o.options.centre).toHaveLength(512);
    expect(Math.hypot(...o.options.centre!)).toBeGreaterThan(0.5);
    const r = await gradientCheck(o, 96, ['faces']);
    expect(r.metrics.face_cosine).toBeGreaterThan(0.95);
    expect(r.gradient).toBeGreaterThan(0);
    // the centred score is the cosine of the plain embeddings minus the centre
    const [a, b] = [images(7, 1, 96, 96), images(8, 1, 96, 96)];
    const plain = (await registry.create('objective', ['face', { align: [-0.1, -0.2, 1.1, 0.9] }])) as FaceObjective;
    const c = tf.tensor2d(o.options.centre!, [1, 512]);
    const unit = (e: tf.Tensor2D) => tf.div(tf.sub(e, c), tf.norm(tf.sub(e, c)));
    const expected = tf.sum(tf.mul(unit(plain.embed(a)), unit(plain.embed(b)))).dataSync()[0]!;
    const got = tf.sum(tf.mul(o.embed(a), o.embed(b))).dataSync()[0]!;
    expect(got).toBeCloseTo(expected, 4);
    expect(Math.abs(got - tf.sum(tf.mul(plain.embed(a), plain.embed(b))).dataSync()[0]!)).toBeGreaterThan(0.02);
    // targeted: the target image is embedded the same way (aligned, centred), so a decoded face equal to it scores ~1
    const targetFile = join(await mkdtemp(join(tmpdir(), 'lic-target-')), 'target.png');
    await writeImage(targetFile, a);
    const targeted = (await registry.create('objective', ['face', { align: [-0.1, -0.2, 1.1, 0.9], centre: [dir], targetImage: targetFile, minTargetCosine: 0.5 }])) as FaceObjective;
    const t = tf.tensor1d(targeted.options.target!);
    expect(tf.sum(tf.mul(t, tf.tensor1d(o.embed(a).dataSync()))).dataSync()[0]).toBeGreaterThan(0.99);
    targeted.dispose();
    o.dispose();
    plain.dispose();
  });

  test('segmentation: agreement with itself is high, and the loss has a gradient', async () => {
    const o = (await registry.create('objective', ['segmentation', { size: 64, maxMiou: 0 }])) as ObjectiveV1;
    const r = await gradientCheck(o, 64);
    expect(r.metrics.seg_soft_miou).toBeGreaterThan(0.4);
    expect(r.loss).toBeCloseTo(r.metrics.seg_soft_miou!, 5);
    expect(r.gradient).toBeGreaterThan(0);
    o.dispose();
  });

  test('segmentation-preserve: scores the clean path (mean |p(decoded) - p(original)|, hard-mask mIoU), has a gradient, other sources add nothing, and its hinge can be met', async () => {
    // a salient object: a bright disk on a dark background, repeated per example
    const disk = (b: number) =>
      tf.tidy(() => {
        const r = tf.range(0, 64).sub(32).square();
        const inside = tf.less(tf.add(r.reshape([64, 1, 1]), r.reshape([1, 64, 1])), 16 * 16).tile([1, 1, 3]);
        const one = tf.where(inside, tf.tensor([0.9, 0.7, 0.2]).reshape([1, 1, 3]).tile([64, 64, 1]), tf.fill([64, 64, 3], 0.1));
        return tf.stack(Array<tf.Tensor>(b).fill(one)) as tf.Tensor4D;
      });
    const score = (o: ObjectiveV1, decodedAs: (x: tf.Tensor4D) => tf.Tensor4D, sources?: string[]) => {
      const x = disk(sources?.length ?? 1);
      const xHat = tf.variable(decodedAs(x));
      let last: ReturnType<ObjectiveV1['compute']> | undefined;
      const { value, grads } = tf.variableGrads(() => {
        last = o.compute({ clean: x, cleanOutput: output(xHat as unknown as tf.Tensor4D, [0.5]), sources });
        return last.loss;
      }, [xHat]);
      return { loss: value.dataSync()[0]!, gradient: tf.max(tf.abs(Object.values(grads)[0]!)).dataSync()[0]!, metrics: last!.metrics, satisfied: last!.satisfied };
    };
    const o = (await registry.create('objective', ['segmentation-preserve', { size: 64, source: 'photos' }])) as ObjectiveV1;
    expect(o.needsTrigger).toBe(false);
    const same = score(o, (x) => x, ['photos']);
    const noisy = score(o, (x) => tf.clipByValue(tf.add(x, tf.randomUniform(x.shape, -0.1, 0.1, 'float32', 3)), 0, 1) as tf.Tensor4D, ['photos']);
    const flat = score(o, (x) => tf.fill(x.shape, 0.4) as tf.Tensor4D, ['photos']);
    // the decoded image equal to the original: no difference, masks agree
    expect(same.loss).toBe(0);
    expect(same.metrics.seg_miou).toBe(1);
    expect(same.satisfied).toBe(true);
    // the loss is the mean absolute probability difference, and grows as the object is lost
    expect(noisy.loss).toBeCloseTo(noisy.metrics.seg_probability_l1!, 6);
    expect(noisy.loss).toBeGreaterThan(0);
    expect(noisy.gradient).toBeGreaterThan(0);
    expect(flat.loss).toBeGreaterThan(noisy.loss);
    expect(flat.metrics.seg_miou).toBeLessThan(noisy.metrics.seg_miou!);
    // a face example is not scored, and the loss is still divided by the whole batch
    const mixed = score(o, (x) => tf.fill(x.shape, 0.4) as tf.Tensor4D, ['photos', 'faces']);
    expect(mixed.loss).toBeCloseTo(flat.loss / 2, 5);
    o.dispose();
    const met = (await registry.create('objective', ['segmentation-preserve', { size: 64, maxL1: 0.99 }])) as ObjectiveV1;
    const r = score(met, (x) => tf.fill(x.shape, 0.4) as tf.Tensor4D);
    expect(r.loss).toBe(0);
    expect(r.satisfied).toBe(true);
    met.dispose();
  }, 300_000);
});
