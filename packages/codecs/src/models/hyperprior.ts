import * as tf from '@tensorflow/tfjs-core';
import { createRng, type CodecForwardResult } from '@lic-backdoor/core';
import { EntropyBottleneck } from '../entropy-models/entropy-bottleneck.js';
import { GaussianConditional, SCALE_BOUND } from '../entropy-models/gaussian-conditional.js';
import { applyConv, createConv, type ConvParams } from '../layers/conv.js';
import {
  createMainTransforms,
  entropyBottleneckKeys,
  entropyBottleneckState,
  hashState,
  loadEntropyBottleneck,
  loadMainTransforms,
  mainTransformsKeys,
  mainTransformsState,
  runTransform,
  type Transform,
} from './factorized.js';
import { checkKeys, convState, loadConv, scalarBuffer, storedTables, type StateDict } from './state-dict.js';

/** `scale`: bmshj2018-hyperprior (ReLU, h_a on |y|); `mean-scale`: mbt2018-mean (LeakyReLU, means). */
export type HyperpriorVariant = 'scale' | 'mean-scale';

/**
 * CompressAI's ScaleHyperprior (bmshj2018-hyperprior) and MeanScaleHyperprior (mbt2018-mean), with
 * their state_dict names: g_a/g_s as the factorized model, h_a = conv3x3 s1 (M->N), act,
 * conv5x5 s2, act, conv5x5 s2; h_s = deconv, act, deconv, act, conv3x3 s1 (to M scales, or to
 * 2M means and scales), an EntropyBottleneck(N) on z and a GaussianConditional on y.
 */
export class HyperpriorModel {
  readonly gA: Transform;
  readonly gS: Transform;
  readonly hA: ConvParams[];
  readonly hS: ConvParams[];
  readonly entropyBottleneck: EntropyBottleneck;
  readonly gaussianConditional = new GaussianConditional();

  constructor(
    readonly variant: HyperpriorVariant,
    readonly N: number,
    readonly M: number,
    seed: number,
  ) {
    const rng = createRng(seed);
    ({ gA: this.gA, gS: this.gS } = createMainTransforms(rng, N, M));
    this.hA = [createConv(rng, M, N, 3, 1, false, 'h_a.0'), createConv(rng, N, N, 5, 2, false, 'h_a.2'), createConv(rng, N, N, 5, 2, false, 'h_a.4')];
    this.hS =
      variant === 'scale'
        ? [createConv(rng, N, N, 5, 2, true, 'h_s.0'), createConv(rng, N, N, 5, 2, true, 'h_s.2'), createConv(rng, N, M, 3, 1, false, 'h_s.4')]
        : [createConv(rng, N, M, 5, 2, true, 'h_s.0'), createConv(rng, M, (M * 3) / 2, 5, 2, true, 'h_s.2'), createConv(rng, (M * 3) / 2, M * 2, 3, 1, false, 'h_s.4')];
    this.entropyBottleneck = new EntropyBottleneck(N, rng.fork('entropy_bottleneck'));
    this.gaussianConditional.update();
  }

  get codecName(): string {
    return this.variant === 'scale' ? 'bmshj2018-hyperprior' : 'mbt2018-mean';
  }

  private act(x: tf.Tensor4D): tf.Tensor4D {
    return this.variant === 'scale' ? tf.relu(x) : (tf.leakyRelu(x, 0.01) as tf.Tensor4D);
  }

  analysis(x: tf.Tensor4D): tf.Tensor4D {
    return runTransform(this.gA, x, false);
  }

  synthesis(yHat: tf.Tensor4D): tf.Tensor4D {
    return runTransform(this.gS, yHat, true);
  }

  /** h_a: y (or |y|) -> z. */
  hyperAnalysis(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.variant === 'scale' ? (tf.abs(y) as tf.Tensor4D) : y;
      this.hA.forEach((c, i) => {
        h = applyConv(h, c);
        if (i < this.hA.length - 1) h = this.act(h);
      });
      return h;
    });
  }

  /** h_s: z_hat -> scales (and means), each [B, h, w, M]. */
  hyperSynthesis(zHat: tf.Tensor4D): { scales: tf.Tensor4D; means?: tf.Tensor4D } {
    return tf.tidy(() => {
      let h = zHat;
      this.hS.forEach((c, i) => {
        h = applyConv(h, c);
        if (i < this.hS.length - 1 || this.variant === 'scale') h = this.act(h);
      });
      if (this.variant === 'scale') return { scales: h };
      // CompressAI chunks NCHW channels: the first M are scales, the last M means.
      const [scales, means] = tf.split(h, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      return { scales, means };
    });
  }

  /**
   * The entropy models on given latents y and z (which need not be each other's: z sets the scales
   * and means y is coded with): y_hat and the likelihoods of y and z, with noise in training,
   * rounding otherwise (y around the means).
   */
  entropyPass(y: tf.Tensor4D, z: tf.Tensor4D, noise?: { y: tf.Tensor; z: tf.Tensor }): { yHat: tf.Tensor4D; likelihoods: { y: tf.Tensor; z: tf.Tensor } } {
    return tf.tidy(() => {
      const { yHat: zHat, likelihoods: zLik } = this.entropyBottleneck.forward(z, noise?.z);
      const { scales, means } = this.hyperSynthesis(zHat);
      const yHat = (noise ? tf.add(y, noise.y) : means ? tf.add(tf.round(tf.sub(y, means)), means) : tf.round(y)) as tf.Tensor4D;
      return { yHat, likelihoods: { y: this.gaussianConditional.likelihood(yHat, scales, means), z: zLik } };
    });
  }

  /** Training pass (noise on y and z) or evaluation pass (rounding; y around the means). */
  forward(x: tf.Tensor4D, noise?: { y: tf.Tensor; z: tf.Tensor }): CodecForwardResult {
    return tf.tidy(() => {
      const y = this.analysis(x);
      const z = this.hyperAnalysis(y);
      const { yHat, likelihoods } = this.entropyPass(y, z, noise);
      return { xHat: this.synthesis(yHat), likelihoods, latents: { y, z } };
    });
  }

  encoderVariables(): tf.Variable[] {
    return [...this.gA.convs.flatMap((c) => [c.weight, c.bias]), ...this.gA.gdns.flatMap((g) => [g.beta, g.gamma]), ...this.hyperEncoderVariables()];
  }

  hyperEncoderVariables(): tf.Variable[] {
    return this.hA.flatMap((c) => [c.weight, c.bias]);
  }

  decoderVariables(): tf.Variable[] {
    return [...this.gS.convs.flatMap((c) => [c.weight, c.bias]), ...this.gS.gdns.flatMap((g) => [g.beta, g.gamma]), ...this.hS.flatMap((c) => [c.weight, c.bias])];
  }

  stateDict(): StateDict {
    const out: StateDict = {};
    mainTransformsState(this.gA, this.gS, out);
    for (const c of [...this.hA, ...this.hS]) convState(c, c.name, out);
    Object.assign(out, entropyBottleneckState(this.entropyBottleneck));
    const gc = this.gaussianConditional;
    const t = gc.tables!;
    const width = Math.max(...t.cdfs.map((c) => c.length));
    const cdf = new Int32Array(t.cdfs.length * width);
    t.cdfs.forEach((c, i) => cdf.set(c, i * width));
    const p = gc.prefix;
    out[`${p}._offset`] = { shape: [t.offsets.length], data: t.offsets.slice() };
    out[`${p}._quantized_cdf`] = { shape: [t.cdfs.length, width], data: cdf };
    out[`${p}._cdf_length`] = { shape: [t.cdfLengths.length], data: t.cdfLengths.slice() };
    out[`${p}.likelihood_lower_bound.bound`] = scalarBuffer(1e-9);
    out[`${p}.lower_bound_scale.bound`] = scalarBuffer(SCALE_BOUND);
    out[`${p}.scale_table`] = { shape: [gc.table.length], data: gc.table.slice() };
    out[`${p}.scale_bound`] = scalarBuffer(SCALE_BOUND);
    return out;
  }

  expectedKeys(): Record<string, number[]> {
    const { N, M } = this;
    const keys = mainTransformsKeys(N, M);
    for (const c of [...this.hA, ...this.hS]) {
      const [k, , cin, cout] = c.weight.shape as number[];
      keys[`${c.name}.weight`] = c.transposed ? [cout!, cin!, k!, k!] : [cout!, cin!, k!, k!];
      keys[`${c.name}.bias`] = [c.bias.shape[0]!];
    }
    Object.assign(keys, entropyBottleneckKeys(this.entropyBottleneck));
    const p = this.gaussianConditional.prefix;
    for (const k of ['_offset', '_quantized_cdf', '_cdf_length']) keys[`${p}.${k}`] = [];
    keys[`${p}.likelihood_lower_bound.bound`] = [1];
    keys[`${p}.lower_bound_scale.bound`] = [1];
    keys[`${p}.scale_table`] = [];
    keys[`${p}.scale_bound`] = [1];
    return keys;
  }

  loadStateDict(state: Record<string, { shape: number[]; data: ArrayLike<number> }>): void {
    const problem = checkKeys(state, this.expectedKeys());
    if (problem) throw new Error(`state dict does not fit ${this.codecName} N=${this.N} M=${this.M}: ${problem}`);
    tf.tidy(() => {
      loadMainTransforms(this.gA, this.gS, state);
      for (const c of [...this.hA, ...this.hS]) loadConv(c, c.name, state);
      loadEntropyBottleneck(this.entropyBottleneck, state);
    });
    const p = this.gaussianConditional.prefix;
    const tables = storedTables(state, p);
    const table = state[`${p}.scale_table`]!;
    this.gaussianConditional.stored =
      tables && table.data.length === tables.offsets.length
        ? { tables, scaleTable: Float32Array.from(table.data), scaleBound: state[`${p}.scale_bound`]?.data[0] ?? SCALE_BOUND }
        : undefined;
  }

  decoderHash(): Uint8Array {
    return hashState(this.stateDict(), ['g_s.', 'h_s.', 'entropy_bottleneck.', 'gaussian_conditional.']);
  }

  dispose(): void {
    tf.dispose([...this.encoderVariables(), ...this.decoderVariables(), ...this.entropyBottleneck.variables()]);
  }
}
