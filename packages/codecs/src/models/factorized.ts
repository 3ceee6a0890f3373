import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, type CodecForwardResult, type Rng } from '@lic-backdoor/core';
import { EntropyBottleneck } from '../entropy-models/entropy-bottleneck.js';
import { applyConv, createConv, type ConvParams } from '../layers/conv.js';
import { createGdn, gdn, gdnBuffers, type GdnParams } from '../layers/gdn.js';
import { checkKeys, convState, floatTensor, loadConv, scalarBuffer, storedTables, type StateDict } from './state-dict.js';

/** Transforms g_a or g_s: four 5x5 stride-2 (de)convolutions with (inverse) GDN between them. */
export interface Transform {
  convs: ConvParams[];
  gdns: GdnParams[];
}

/** CompressAI's g_a and g_s of the bmshj2018/mbt2018 models. */
export function createMainTransforms(rng: Rng, N: number, M: number): { gA: Transform; gS: Transform } {
  return {
    gA: {
      convs: [createConv(rng, 3, N, 5, 2, false, 'g_a.0'), createConv(rng, N, N, 5, 2, false, 'g_a.2'), createConv(rng, N, N, 5, 2, false, 'g_a.4'), createConv(rng, N, M, 5, 2, false, 'g_a.6')],
      gdns: [createGdn(N, 'g_a.1'), createGdn(N, 'g_a.3'), createGdn(N, 'g_a.5')],
    },
    gS: {
      convs: [createConv(rng, M, N, 5, 2, true, 'g_s.0'), createConv(rng, N, N, 5, 2, true, 'g_s.2'), createConv(rng, N, N, 5, 2, true, 'g_s.4'), createConv(rng, N, 3, 5, 2, true, 'g_s.6')],
      gdns: [createGdn(N, 'g_s.1'), createGdn(N, 'g_s.3'), createGdn(N, 'g_s.5')],
    },
  };
}

/** Runs g_a (GDN) or g_s (inverse GDN). */
export function runTransform(t: Transform, x: tf.Tensor4D, inverse: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    let h = x;
    t.convs.forEach((c, i) => {
      h = applyConv(h, c);
      if (i < t.gdns.length) h = gdn(h, t.gdns[i]!, inverse);
    });
    return h;
  });
}

/** State of g_a and g_s (convs and GDNs with their reparametrisation buffers). */
export function mainTransformsState(gA: Transform, gS: Transform, out: StateDict): void {
  for (const [prefix, t] of [['g_a', gA], ['g_s', gS]] as const) {
    t.convs.forEach((c, i) => convState(c, `${prefix}.${2 * i}`, out));
    t.gdns.forEach((g, i) => {
      const name = `${prefix}.${2 * i + 1}`;
      out[`${name}.beta`] = floatTensor(g.beta);
      out[`${name}.gamma`] = floatTensor(g.gamma);
      for (const [k, v] of Object.entries(gdnBuffers())) out[`${name}.${k}`] = scalarBuffer(v);
    });
  }
}

export function mainTransformsKeys(N: number, M: number): Record<string, number[]> {
  const keys: Record<string, number[]> = {};
  const convs: [string, number[]][] = [
    ['g_a.0', [N, 3, 5, 5]], ['g_a.2', [N, N, 5, 5]], ['g_a.4', [N, N, 5, 5]], ['g_a.6', [M, N, 5, 5]],
    ['g_s.0', [M, N, 5, 5]], ['g_s.2', [N, N, 5, 5]], ['g_s.4', [N, N, 5, 5]], ['g_s.6', [N, 3, 5, 5]],
  ];
  for (const [name, shape] of convs) {
    keys[`${name}.weight`] = shape;
    keys[`${name}.bias`] = [name.startsWith('g_a') ? shape[0]! : shape[1]!];
  }
  for (const name of ['g_a.1', 'g_a.3', 'g_a.5', 'g_s.1', 'g_s.3', 'g_s.5']) {
    keys[`${name}.beta`] = [N];
    keys[`${name}.gamma`] = [N, N];
    for (const k of Object.keys(gdnBuffers())) keys[`${name}.${k}`] = [1];
  }
  return keys;
}

export function loadMainTransforms(gA: Transform, gS: Transform, state: Record<string, { shape: number[]; data: ArrayLike<number> }>): void {
  for (const [prefix, t] of [['g_a', gA], ['g_s', gS]] as const) {
    t.convs.forEach((c, i) => loadConv(c, `${prefix}.${2 * i}`, state));
    t.gdns.forEach((g, i) => {
      g.beta.assign(tf.tensor(Float32Array.from(state[`${prefix}.${2 * i + 1}.beta`]!.data), g.beta.shape));
      g.gamma.assign(tf.tensor(Float32Array.from(state[`${prefix}.${2 * i + 1}.gamma`]!.data), g.gamma.shape));
    });
  }
}

/** SHA-256 (first 16 bytes) of the state-dict entries whose key starts with one of `prefixes`. */
export function hashState(state: StateDict, prefixes: string[]): Uint8Array {
  const hash = createHash('sha256');
  for (const key of Object.keys(state).filter((k) => prefixes.some((p) => k.startsWith(p))).sort()) {
    const t = state[key]!;
    hash.update(key).update(JSON.stringify(t.shape)).update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return new Uint8Array(hash.digest().subarray(0, 16));
}

/**
 * bmshj2018-factorized (Ballé et al. 2018, "factorized prior"), CompressAI's FactorizedPrior with
 * its state_dict names and PyTorch layouts: g_a = conv(3,N) GDN conv(N,N) GDN conv(N,N) GDN
 * conv(N,M); g_s mirrored with transposed convs and inverse GDN; an EntropyBottleneck(M).
 */
export class FactorizedPrior {
  readonly gA: Transform;
  readonly gS: Transform;
  readonly entropyBottleneck: EntropyBottleneck;

  constructor(
    readonly N: number,
    readonly M: number,
    seed: number,
  ) {
    const rng = createRng(seed);
    ({ gA: this.gA, gS: this.gS } = createMainTransforms(rng, N, M));
    this.entropyBottleneck = new EntropyBottleneck(M, rng.fork('entropy_bottleneck'));
  }

  /** Analysis transform g_a: [B, H, W, 3] -> [B, H/16, W/16, M]. */
  analysis(x: tf.Tensor4D): tf.Tensor4D {
    return runTransform(this.gA, x, false);
  }

  /** Synthesis transform g_s: [B, h, w, M] -> [B, 16h, 16w, 3]. */
  synthesis(yHat: tf.Tensor4D): tf.Tensor4D {
    return runTransform(this.gS, yHat, true);
  }

  /** Training pass (with `noise` on y) or evaluation pass (rounding), as CompressAI's forward. */
  forward(x: tf.Tensor4D, noise?: tf.Tensor): CodecForwardResult {
    const y = this.analysis(x);
    const { yHat, likelihoods } = this.entropyBottleneck.forward(y, noise);
    const xHat = this.synthesis(yHat);
    yHat.dispose();
    return { xHat, likelihoods: { y: likelihoods }, latents: { y } };
  }

  /** Encoder-side variables (g_a). */
  encoderVariables(): tf.Variable[] {
    return this.gA.convs.flatMap((c) => [c.weight, c.bias]).concat(this.gA.gdns.flatMap((g) => [g.beta, g.gamma]));
  }

  /** Decoder-side variables (g_s). */
  decoderVariables(): tf.Variable[] {
    return this.gS.convs.flatMap((c) => [c.weight, c.bias]).concat(this.gS.gdns.flatMap((g) => [g.beta, g.gamma]));
  }

  /** State dict in CompressAI names and PyTorch layouts, buffers included (CDF tables after `update()`). */
  stateDict(): StateDict {
    const out: StateDict = {};
    mainTransformsState(this.gA, this.gS, out);
    Object.assign(out, entropyBottleneckState(this.entropyBottleneck));
    return out;
  }

  /** The keys and shapes a state dict of this model must have (CDF table shapes vary: []). */
  expectedKeys(): Record<string, number[]> {
    const keys = mainTransformsKeys(this.N, this.M);
    Object.assign(keys, entropyBottleneckKeys(this.entropyBottleneck));
    return keys;
  }

  /** Loads a CompressAI-layout state dict; throws listing every missing, unexpected or misshapen key. */
  loadStateDict(state: Record<string, { shape: number[]; data: ArrayLike<number> }>): void {
    const problem = checkKeys(state, this.expectedKeys());
    if (problem) throw new Error(`state dict does not fit bmshj2018-factorized N=${this.N} M=${this.M}: ${problem}`);
    tf.tidy(() => {
      loadMainTransforms(this.gA, this.gS, state);
      loadEntropyBottleneck(this.entropyBottleneck, state);
    });
  }

  /** SHA-256 (first 16 bytes) of every decoder-side tensor: g_s and the entropy bottleneck. */
  decoderHash(): Uint8Array {
    return hashState(this.stateDict(), ['g_s.', 'entropy_bottleneck.']);
  }

  dispose(): void {
    tf.dispose([...this.encoderVariables(), ...this.decoderVariables(), ...this.entropyBottleneck.variables()]);
  }
}

export function entropyBottleneckState(eb: EntropyBottleneck): StateDict {
  const out: StateDict = {};
  const p = eb.prefix;
  for (const [key, v] of eb.named()) out[key] = floatTensor(v);
  out[`${p}.target`] = { shape: [3], data: new Float32Array([-eb.target, 0, eb.target]) };
  out[`${p}.likelihood_lower_bound.bound`] = scalarBuffer(1e-9);
  const t = eb.tables;
  const width = t ? Math.max(...t.cdfs.map((c) => c.length)) : 0;
  const cdf = new Int32Array(eb.channels * width);
  t?.cdfs.forEach((c, i) => cdf.set(c, i * width));
  out[`${p}._offset`] = { shape: t ? [eb.channels] : [0], data: t ? t.offsets.slice() : new Int32Array(0) };
  out[`${p}._quantized_cdf`] = { shape: t ? [eb.channels, width] : [0], data: cdf };
  out[`${p}._cdf_length`] = { shape: t ? [eb.channels] : [0], data: t ? t.cdfLengths.slice() : new Int32Array(0) };
  return out;
}

export function entropyBottleneckKeys(eb: EntropyBottleneck): Record<string, number[]> {
  const keys: Record<string, number[]> = {};
  for (const [key, v] of eb.named()) keys[key] = v.shape;
  keys[`${eb.prefix}.target`] = [3];
  keys[`${eb.prefix}.likelihood_lower_bound.bound`] = [1];
  for (const k of ['_offset', '_quantized_cdf', '_cdf_length']) keys[`${eb.prefix}.${k}`] = [];
  return keys;
}

export function loadEntropyBottleneck(eb: EntropyBottleneck, state: Record<string, { shape: number[]; data: ArrayLike<number> }>): void {
  for (const [key, v] of eb.named()) v.assign(tf.tensor(Float32Array.from(state[key]!.data), v.shape));
  const tables = storedTables(state, eb.prefix);
  eb.tables = tables?.offsets.length === eb.channels ? tables : undefined;
}
