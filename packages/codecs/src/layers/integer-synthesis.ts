import * as tf from '@tensorflow/tfjs-core';
import type { Transform } from '../models/factorized.js';
import { GDN_BETA_MIN, nonNegative } from './gdn.js';

/** float32 holds every integer below 2^24 exactly: each convolution's sums must stay below it. */
const EXACT_F32 = 2 ** 24;
/** Activations are integers in [-2^15, 2^15 - 1], split into a high and a low piece of this many bits (each fits a byte). */
export const SPLIT_BITS = 8;
export const ACTIVATION_LIMIT = 2 ** 15;
/** Weight pieces of the convolutions fit a signed byte (onnxruntime multiplies them as int8). */
const PIECE_LIMIT = 127;
/** Fractional bits of y_hat (the synthesis input): a range of +-256 in steps of 1/128. */
export const INPUT_FRACTION = 7;
/** Fractional bits of the hidden activations: a range of +-32 in steps of 1/1024. */
export const HIDDEN_FRACTION = 10;
/** Weights are quantized to at most 12 bits of magnitude (a power-of-two scale per layer; more bits gain nothing measurable). */
const WEIGHT_LIMIT = 2 ** 12;
/** Weight pieces are peeled off as balanced digits of at most this many bits ([-32, 32]). */
const PIECE_BITS = 6;
/** Inverse GDN: its norm uses x rounded down to 2^-6 steps, squared (< 2^22), split at 2^11. */
export const NORM_SHIFT = 4;
export const SQUARE_SPLIT_BITS = 11;

/** Integer-valued weights written as a sum of pieces times powers of two, each piece exact under the input bound. */
export interface WeightPieces {
  /** Each piece in the layer's tfjs layout (transposed conv [k, k, out, in]; GDN [in, out]). */
  pieces: Float32Array[];
  /** piece i stands for pieces[i] x 2^exponents[i] (in units of 2^-fraction). */
  exponents: number[];
  /** The weights are (sum of pieces) x 2^-fraction. */
  fraction: number;
}

/** One transposed convolution of g_s in integer arithmetic. */
export interface IntegerConv {
  /** [k, k, out, in]. */
  shape: [number, number, number, number];
  stride: number;
  weights: WeightPieces;
  bias: Float32Array;
  /** Fractional bits of this layer's input activations. */
  inputFraction: number;
}

/** One inverse GDN in integer arithmetic: y = x sqrt(beta + gamma x^2). */
export interface IntegerInverseGdn {
  channels: number;
  /** gamma^T, [in, out], as pieces. */
  gamma: WeightPieces;
  beta: Float32Array;
}

/**
 * g_s (four transposed convolutions with inverse GDN between them) planned for integer arithmetic,
 * so that every implementation computes the identical image: activations are integers times a
 * power of two (`INPUT_FRACTION` bits for y_hat, `HIDDEN_FRACTION` for hidden layers, saturating at
 * -2^15 and 2^15 - 1), split into two 8-bit pieces; the weights are integers split into pieces (the
 * convolutions' within a signed byte) whose sums
 * stay below 2^24, so every convolution and GDN matrix product is exact in float32 whatever order
 * a library sums in. Everything else is an element-wise IEEE operation (multiply, add, floor,
 * round half to even, clip, square root) done in the same order on every runtime, which rounds
 * identically. The decoded image can differ from the float g_s by a fraction of an 8-bit level.
 */
export interface IntegerSynthesisPlan {
  convs: IntegerConv[];
  gdns: IntegerInverseGdn[];
}

/**
 * Writes integers as sum_i piece_i 2^exponent_i, peeling off balanced low digits (6 bits, fewer
 * where a layer has so many inputs that 6-bit digits would not be exact), until the remaining high
 * piece is exact under `maxInput`: for every output, max input x sum |piece| < 2^24, and every
 * piece within +-`pieceLimit`.
 */
export function splitExact(values: Float64Array, outputOf: (i: number) => number, outputs: number, maxInput: number, pieceLimit = Infinity): { pieces: Float32Array[]; exponents: number[] } {
  const fits = (v: Float64Array) => exact(v) && v.every((x) => Math.abs(x) <= pieceLimit);
  const exact = (v: Float64Array) => {
    const sums = new Float64Array(outputs);
    v.forEach((x, i) => (sums[outputOf(i)]! += Math.abs(x)));
    return Math.max(...sums) * maxInput < EXACT_F32;
  };
  const pieces: Float32Array[] = [];
  const exponents: number[] = [];
  let rest = values;
  let e = 0;
  while (!fits(rest)) {
    let bits = PIECE_BITS;
    let low = digits(rest, bits);
    while (!fits(low) && bits > 1) low = digits(rest, --bits);
    if (!fits(low)) throw new Error(`integer synthesis: a layer has too many inputs for exact float32 sums (${values.length} weights)`);
    pieces.push(Float32Array.from(low));
    exponents.push(e);
    rest = rest.map((v, i) => (v - low[i]!) / 2 ** bits);
    e += bits;
  }
  pieces.push(Float32Array.from(rest));
  exponents.push(e);
  return { pieces, exponents };
}

/** The balanced low digit of each value in base 2^bits, in [-2^(bits-1), 2^(bits-1)]. */
function digits(values: Float64Array, bits: number): Float64Array {
  const base = 2 ** bits;
  return values.map((v) => v - base * Math.round(v / base));
}

/** Quantizes weights to integers with a power-of-two scale: the largest fraction with max |w| 2^fraction < 2^12. */
function quantize(w: ArrayLike<number>): { q: Float64Array; fraction: number } {
  let max = 0;
  for (let i = 0; i < w.length; i++) max = Math.max(max, Math.abs(w[i]!));
  const fraction = max > 0 ? Math.floor(Math.log2((WEIGHT_LIMIT - 1) / max)) : 0;
  return { q: Float64Array.from(w, (v) => Math.round(v * 2 ** fraction)), fraction };
}

/** The integer plan of a synthesis transform (reads the current weights). */
export function planIntegerSynthesis(gS: Transform): IntegerSynthesisPlan {
  const convs = gS.convs.map((c, i): IntegerConv => {
    const shape = c.weight.shape as [number, number, number, number];
    const [, , out, cin] = shape;
    const outputOf = (j: number) => Math.floor(j / cin) % out;
    const { q, fraction } = quantize(c.weight.dataSync());
    const split = splitExact(q, outputOf, out, 2 ** SPLIT_BITS, PIECE_LIMIT);
    return { shape, stride: c.stride, weights: { ...split, fraction }, bias: Float32Array.from(c.bias.dataSync()), inputFraction: i === 0 ? INPUT_FRACTION : HIDDEN_FRACTION };
  });
  const gdns = gS.gdns.map((g): IntegerInverseGdn => {
    const [beta, gammaT] = tf.tidy(() => [nonNegative(g.beta, GDN_BETA_MIN), tf.transpose(nonNegative(g.gamma))]);
    const channels = beta!.shape[0]!;
    const outputOf = (j: number) => j % channels;
    const { q, fraction } = quantize(gammaT!.dataSync());
    const split = splitExact(q, outputOf, channels, 2 ** SQUARE_SPLIT_BITS);
    const plan = { channels, gamma: { ...split, fraction }, beta: Float32Array.from(beta!.dataSync()) };
    tf.dispose([beta!, gammaT!]);
    return plan;
  });
  return { convs, gdns };
}

/** round(v 2^fraction) clipped to [-2^15, 2^15 - 1]: the integer activation. */
function toInteger(v: tf.Tensor4D, fraction: number): tf.Tensor4D {
  return tf.clipByValue(tf.round(tf.mul(v, 2 ** fraction)), -ACTIVATION_LIMIT, ACTIVATION_LIMIT - 1) as tf.Tensor4D;
}

/** [hi, lo] with a = hi 2^bits + lo, lo in [0, 2^bits). */
function splitActivation(a: tf.Tensor4D, bits: number): [tf.Tensor4D, tf.Tensor4D] {
  const hi = tf.floor(tf.mul(a, 2 ** -bits)) as tf.Tensor4D;
  return [hi, tf.sub(a, tf.mul(hi, 2 ** bits)) as tf.Tensor4D];
}

/**
 * sum over (activation piece, weight piece) of product(piece, weights) x 2^(shifts), in this fixed
 * order (high activation piece first, weight pieces low to high), as the ONNX export writes it.
 */
function exactSum(parts: [tf.Tensor4D, tf.Tensor4D], splitBits: number, w: WeightPieces, product: (a: tf.Tensor4D, piece: tf.Tensor) => tf.Tensor4D, pieceShape: number[]): tf.Tensor4D {
  let acc: tf.Tensor4D | undefined;
  parts.forEach((a, p) => {
    const shift = p === 0 ? splitBits : 0;
    w.pieces.forEach((piece, q) => {
      const term = tf.mul(product(a, tf.tensor(piece, pieceShape)), 2 ** (shift + w.exponents[q]!)) as tf.Tensor4D;
      acc = acc ? (tf.add(acc, term) as tf.Tensor4D) : term;
    });
  });
  return acc!;
}

/** The integer g_s in tfjs: y_hat [B, h, w, M] -> x_hat [B, 16h, 16w, 3] (float, before clamping). */
export function runIntegerSynthesis(plan: IntegerSynthesisPlan, yHat: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    let v: tf.Tensor4D = yHat;
    plan.convs.forEach((c, i) => {
      const a = toInteger(v, c.inputFraction);
      const [n, h, w] = a.shape;
      const [k, , out] = c.shape;
      const pad = Math.floor(k / 2);
      const conv = (x: tf.Tensor4D, piece: tf.Tensor) => tf.conv2dTranspose(x, piece as tf.Tensor4D, [n, h * c.stride, w * c.stride, out], c.stride, pad);
      const acc = exactSum(splitActivation(a, SPLIT_BITS), SPLIT_BITS, c.weights, conv, c.shape);
      v = tf.add(tf.mul(acc, 2 ** -(c.inputFraction + c.weights.fraction)), c.bias) as tf.Tensor4D;
      const g = plan.gdns[i];
      if (g) v = inverseGdn(g, toInteger(v, HIDDEN_FRACTION));
    });
    return v;
  });
}

/** Inverse GDN on integer activations a (HIDDEN_FRACTION bits): x sqrt(beta + gamma x^2), x = a 2^-10. */
function inverseGdn(g: IntegerInverseGdn, a: tf.Tensor4D): tf.Tensor4D {
  const xr = tf.floor(tf.mul(a, 2 ** -NORM_SHIFT));
  const square = tf.mul(xr, xr) as tf.Tensor4D;
  const c = g.channels;
  const matmul = (x: tf.Tensor4D, piece: tf.Tensor) => tf.reshape(tf.matMul(tf.reshape(x, [-1, c]), piece as tf.Tensor2D), x.shape) as tf.Tensor4D;
  const norm = exactSum(splitActivation(square, SQUARE_SPLIT_BITS), SQUARE_SPLIT_BITS, g.gamma, matmul, [c, c]);
  const n = tf.add(tf.mul(norm, 2 ** -(2 * (HIDDEN_FRACTION - NORM_SHIFT) + g.gamma.fraction)), g.beta);
  return tf.mul(tf.mul(a, 2 ** -HIDDEN_FRACTION), tf.sqrt(n)) as tf.Tensor4D;
}
