import * as tf from '@tensorflow/tfjs-core';
import type { ConvParams } from './layers/conv.js';
import { GDN_BETA_MIN, nonNegative, type GdnParams } from './layers/gdn.js';
import type { Transform } from './models/factorized.js';
import type { HyperpriorModel, HyperpriorVariant } from './models/hyperprior.js';
import { ACTIVATION_LIMIT, HIDDEN_FRACTION, NORM_SHIFT, SPLIT_BITS, SQUARE_SPLIT_BITS, type IntegerSynthesisPlan, type WeightPieces } from './layers/integer-synthesis.js';
import { DataType, GraphBuilder, float, int, ints, valueInfo } from './onnx/graph.js';
import { bytePiecesNodes, exactConvolutionNodes, interleaveNodes } from './onnx/exact-convolution.js';
import type { FixedPointHyperSynthesis } from './entropy-models/fixed-point-hyper-synthesis.js';

function convNode(g: GraphBuilder, x: string, p: ConvParams): string {
  const w = tf.tidy(() => tf.transpose(p.weight, [3, 2, 0, 1]));
  const k = p.weight.shape[0]!;
  const pad = Math.floor(k / 2);
  const weight = g.constant(`${p.name}.weight`, w.dataSync() as Float32Array, w.shape);
  const bias = g.constant(`${p.name}.bias`, p.bias.dataSync() as Float32Array, p.bias.shape);
  w.dispose();
  const attributes = [ints('kernel_shape', [k, k]), ints('strides', [p.stride, p.stride]), ints('pads', [pad, pad, pad, pad])];
  if (p.transposed) attributes.push(ints('output_padding', [p.stride - 1, p.stride - 1]));
  return g.node(p.transposed ? 'ConvTranspose' : 'Conv', [x, weight, bias], attributes);
}

function gdnNodes(g: GraphBuilder, x: string, p: GdnParams, inverse: boolean): string {
  const [beta, gamma] = tf.tidy(() => [nonNegative(p.beta, GDN_BETA_MIN), nonNegative(p.gamma)]);
  const c = beta!.shape[0]!;
  const gammaName = g.constant(`${p.name}.gamma`, gamma!.dataSync() as Float32Array, [c, c, 1, 1]);
  const betaName = g.constant(`${p.name}.beta`, beta!.dataSync() as Float32Array, [c]);
  tf.dispose([beta!, gamma!]);
  const norm = g.node('Conv', [g.node('Mul', [x, x]), gammaName, betaName], [ints('kernel_shape', [1, 1])]);
  return g.node(inverse ? 'Mul' : 'Div', [x, g.node('Sqrt', [norm])]);
}

function transformNodes(g: GraphBuilder, x: string, t: Transform, inverse: boolean): string {
  let h = x;
  t.convs.forEach((c, i) => {
    h = convNode(g, h, c);
    if (i < t.gdns.length) h = gdnNodes(g, h, t.gdns[i]!, inverse);
  });
  return h;
}

/** An NCHW tensor with `c` channels and symbolic batch and spatial sizes. */
function nchw(name: string, c: number, suffix: string, elemType: number = DataType.FLOAT) {
  return valueInfo(name, elemType, ['n', c, `h${suffix}`, `w${suffix}`]);
}

const channels = (c: ConvParams, side: 'in' | 'out') => c.weight.shape[(side === 'in') === c.transposed ? 3 : 2]!;

/**
 * An analysis or synthesis transform (convs with GDN / inverse GDN between them) as an ONNX model:
 * input `x` and output `y` in NCHW, opset 13, as the CompressAI layers compute them.
 */
export function transformToOnnx(t: Transform, inverse: boolean, io: { input: string; output: string }): Uint8Array {
  const g = new GraphBuilder();
  g.rename(transformNodes(g, io.input, t, inverse), io.output);
  return g.model(inverse ? 'synthesis' : 'analysis', [nchw(io.input, channels(t.convs[0]!, 'in'), '_in')], [nchw(io.output, channels(t.convs[t.convs.length - 1]!, 'out'), '_out')]);
}

/** x * c for a constant c of the graph's element type (a power of two here, so exact). */
function scale(g: GraphBuilder, x: string, c: number): string {
  return g.node('Mul', [x, g.constant('c', new Float32Array([c]), [])]);
}

const floatConstant = (g: GraphBuilder) => (v: number) => g.constant('c', new Float32Array([v]), []);

/** round(v) clipped to [-2^15, 2^15 - 1]: `runIntegerSynthesis`'s integer activation of v 2^-fraction. */
function toIntegerNodes(g: GraphBuilder, v: string): string {
  return g.node('Clip', [g.node('Round', [v]), g.constant('min', new Float32Array([-ACTIVATION_LIMIT]), []), g.constant('max', new Float32Array([ACTIVATION_LIMIT - 1]), [])]);
}

/** [hi, lo] with a = hi 2^bits + lo. */
function splitNodes(g: GraphBuilder, a: string, bits: number): [string, string] {
  const hi = g.node('Floor', [scale(g, a, 2 ** -bits)]);
  return [hi, g.node('Sub', [a, scale(g, hi, 2 ** bits)])];
}

/** The sum of the terms in the given order, in float32: each term is exact, so each step rounds as in tfjs. */
function sumNodes(g: GraphBuilder, terms: string[]): string {
  return terms.reduce((acc, t) => g.node('Add', [acc, t]));
}

/** Weight pieces of a transposed convolution, tfjs layout [k, k, out, in] -> [k, k, in, out]. */
function inOutPieces(c: IntegerSynthesisPlan['convs'][number]): Float32Array[] {
  const [k, , out, cin] = c.shape;
  return c.weights.pieces.map((piece) => {
    const t = new Float32Array(piece.length);
    for (let p = 0; p < k * k; p++) for (let o = 0; o < out; o++) for (let i = 0; i < cin; i++) t[(p * cin + i) * out + o] = piece[(p * out + o) * cin + i]!;
    return t;
  });
}

/**
 * g_s in integer arithmetic (`planIntegerSynthesis`), NHWC inside. Each transposed convolution is
 * MatMulInteger over 8-bit pieces (activation hi and lo, weight pieces) per output phase, every
 * term exact and below 2^24, summed in float32 in `runIntegerSynthesis`'s order; inverse GDN is
 * exact float32 MatMuls. Power-of-two scalings are folded into the terms (scaling by 2^e commutes
 * with float32 rounding), so the values are `runIntegerSynthesis`'s bit for bit.
 */
function integerSynthesisNodes(g: GraphBuilder, yHat: string, plan: IntegerSynthesisPlan): string {
  let a = toIntegerNodes(g, scale(g, g.node('Transpose', [yHat], [ints('perm', [0, 2, 3, 1])]), 2 ** plan.convs[0]!.inputFraction));
  let v = '';
  plan.convs.forEach((c, i) => {
    const gdn = plan.gdns[i];
    // a GDN works on round(v 2^HIDDEN_FRACTION): the sums come scaled by that already
    const post = gdn ? HIDDEN_FRACTION : 0;
    if (!gdn) {
      v = finalConvolutionNodes(g, a, c);
      return;
    }
    const [k, , out, cin] = c.shape;
    // tfjs sums the high activation piece first
    const pieces = bytePiecesNodes(g, a, 2, floatConstant(g)).reverse();
    const conv = { k, stride: c.stride, transposed: true, cin, cout: out, pieces: inOutPieces(c), exponents: c.weights.exponents };
    const phases = exactConvolutionNodes(g, pieces, conv, 'float', post - c.inputFraction - c.weights.fraction);
    const acc = interleaveNodes(g, phases, c.stride, out);
    v = g.node('Add', [acc, g.constant(`g_s.${2 * i}.bias`, c.bias.map((b) => b * 2 ** post), [out])]);
    const n = gdn.channels;
    const ai = toIntegerNodes(g, v);
    const xr = g.node('Floor', [scale(g, ai, 2 ** -NORM_SHIFT)]);
    const parts = splitNodes(g, g.node('Mul', [xr, xr]), SQUARE_SPLIT_BITS);
    const normScale = -(2 * (HIDDEN_FRACTION - NORM_SHIFT) + gdn.gamma.fraction);
    const terms = exactSumTerms(parts, SQUARE_SPLIT_BITS, gdn.gamma).map(({ part, piece, exponent }) => g.node('MatMul', [part, g.constant(`g_s.${2 * i + 1}.gamma`, gdn.gamma.pieces[piece]!.map((w) => w * 2 ** (exponent + normScale)), [n, n])]));
    const sqrt = g.node('Sqrt', [g.node('Add', [sumNodes(g, terms), g.constant(`g_s.${2 * i + 1}.beta`, gdn.beta, [n])])]);
    // round(ai 2^-10 sqrt 2^10) = round(ai sqrt): the next layer's integer input
    a = toIntegerNodes(g, g.node('Mul', [ai, sqrt]));
  });
  return v;
}

/**
 * The last transposed convolution (few output channels), NHWC integers in, NCHW image out: float32
 * ConvTranspose per (activation piece, weight piece) with power-of-two scaled weights, each exact
 * (products and partial sums are integers times 2^e below 2^24), so it costs no im2col.
 */
function finalConvolutionNodes(g: GraphBuilder, a: string, c: IntegerSynthesisPlan['convs'][number]): string {
  const [k, , out, cin] = c.shape;
  const pad = k >> 1;
  const attributes = [ints('kernel_shape', [k, k]), ints('strides', [c.stride, c.stride]), ints('pads', [pad, pad, pad, pad]), ints('output_padding', [c.stride - 1, c.stride - 1])];
  const parts = splitNodes(g, g.node('Transpose', [a], [ints('perm', [0, 3, 1, 2])]), SPLIT_BITS);
  const terms = exactSumTerms(parts, SPLIT_BITS, c.weights).map(({ part, piece, exponent }) => {
    const w = onnxTransposedLayout(c.weights.pieces[piece]!, c.shape).map((x) => x * 2 ** (exponent - c.inputFraction - c.weights.fraction));
    return g.node('ConvTranspose', [part, g.constant('g_s.piece', w, [cin, out, k, k])], attributes);
  });
  return g.node('Add', [sumNodes(g, terms), g.constant('g_s.bias', c.bias, [out, 1, 1])]);
}

/** tfjs transposed-convolution weights [k, k, out, in] -> ONNX ConvTranspose [in, out, k, k]. */
function onnxTransposedLayout(piece: Float32Array, [k, , out, cin]: [number, number, number, number]): Float32Array {
  const t = new Float32Array(piece.length);
  for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) for (let o = 0; o < out; o++) for (let i = 0; i < cin; i++) t[((i * out + o) * k + y) * k + x] = piece[((y * k + x) * out + o) * cin + i]!;
  return t;
}

/** The terms of `runIntegerSynthesis`'s exact sums in its order: high activation piece first, weight pieces low to high. */
function exactSumTerms(parts: [string, string], bits: number, w: WeightPieces): { part: string; piece: number; exponent: number }[] {
  return parts.flatMap((part, p) => w.pieces.map((_, piece) => ({ part, piece, exponent: (p === 0 ? bits : 0) + w.exponents[piece]! })));
}

/**
 * The integer g_s (`planIntegerSynthesis`) as an ONNX model: `y_hat` -> `x_hat`, NCHW, opset 13.
 * Integer products run as MatMulInteger (exact int32) and every sum stays below 2^24, so
 * onnxruntime gives the tfjs codec's image bit for bit. Run it with graph optimizations off: a
 * fusion may fold a non-integer constant into a product.
 */
export function integerSynthesisToOnnx(plan: IntegerSynthesisPlan): Uint8Array {
  const g = new GraphBuilder();
  g.rename(integerSynthesisNodes(g, 'y_hat', plan), 'x_hat');
  return g.model('integer-synthesis', [nchw('y_hat', plan.convs[0]!.shape[3], '_y')], [nchw('x_hat', 3, '')]);
}

/** h_a or h_s with the activations of the model's variant (ReLU, or LeakyReLU 0.01 for mbt2018-mean). */
function hyperNodes(g: GraphBuilder, x: string, convs: readonly ConvParams[], variant: HyperpriorVariant, finalActivation: boolean): string {
  let h = x;
  convs.forEach((c, i) => {
    h = convNode(g, h, c);
    if (i < convs.length - 1 || finalActivation) h = variant === 'scale' ? g.node('Relu', [h]) : g.node('LeakyRelu', [h], [float('alpha', 0.01)]);
  });
  return h;
}

/** The means of mbt2018-mean's float h_s (CompressAI's chunk of the channels: scales, then means). */
function hyperMeansNodes(g: GraphBuilder, zHat: string, m: HyperpriorModel): string {
  const h = hyperNodes(g, zHat, m.hS, m.variant, false);
  return g.node('Slice', [h, g.int64s('starts', [m.M]), g.int64s('ends', [2 * m.M]), g.int64s('axes', [1])]);
}

/** Activation pieces of the fixed-point h_s: |a| < 2^31 in units of 2^-16 (|value| < 32768; a backdoored encoder drives z far beyond 128). */
export const FIXED_POINT_PIECES = 4;
export const FIXED_POINT_INPUT_LIMIT = 2 ** (8 * FIXED_POINT_PIECES - 1);

/**
 * The fixed-point h_s (`FixedPointHyperSynthesis`) as an ONNX model in float64: input `z_q16`
 * (z_hat in units of 2^-16, NHWC), output `hyper` (the scales, then for mbt2018-mean the means,
 * NCHW, exact multiples of 2^-32) and `input_range_i`, the largest |input| of layer i. Every product
 * is MatMulInteger over 8-bit pieces and every sum an exact float64 integer, so the result is
 * `FixedPointHyperSynthesis.run`'s bit for bit while every input stays below
 * `FIXED_POINT_INPUT_LIMIT` (the caller checks the ranges and otherwise uses `run`).
 */
export function fixedPointHyperSynthesisToOnnx(fp: FixedPointHyperSynthesis): Uint8Array {
  const g = new GraphBuilder();
  const constant = (v: number) => g.typedConstant('c', DataType.DOUBLE, new Float64Array([v]), []);
  const layers = fp.integerLayers();
  let a = 'z_q16';
  const ranges: string[] = [];
  layers.forEach((l, li) => {
    ranges.push(g.node('ReduceMax', [g.node('Abs', [a])], [int('keepdims', 0)]));
    const pieces = bytePiecesNodes(g, a, FIXED_POINT_PIECES, constant);
    const sums = exactConvolutionNodes(g, pieces, { k: l.k, stride: l.stride, transposed: l.transposed, cin: l.cin, cout: l.cout, ...balancedBytes(l.weight) }, 'double');
    const acc = g.node('Add', [interleaveNodes(g, sums, l.transposed ? l.stride : 1, l.cout), g.typedConstant('bias', DataType.DOUBLE, l.bias, [l.cout])]);
    if (li < layers.length - 1) {
      const v = g.node('Floor', [g.node('Mul', [acc, constant(2 ** -16)])]);
      a = fp.activation === 'relu' ? g.node('Max', [v, constant(0)]) : g.node('Where', [g.node('GreaterOrEqual', [v, constant(0)]), v, g.node('Floor', [g.node('Div', [v, constant(100)])])]);
    } else {
      const out = fp.finalActivation ? g.node('Max', [acc, constant(0)]) : acc;
      g.rename(g.node('Transpose', [g.node('Mul', [out, constant(2 ** -32)])], [ints('perm', [0, 3, 1, 2])]), 'hyper');
    }
  });
  ranges.forEach((r, i) => g.rename(r, `input_range_${i}`));
  const n = layers[0]!.cin;
  const outputs = layers[layers.length - 1]!.cout;
  return g.model('fixed-point-hyper-synthesis', [valueInfo('z_q16', DataType.DOUBLE, [1, 'h', 'w', n])], [nchw('hyper', outputs, '_y', DataType.DOUBLE), ...ranges.map((_, i) => valueInfo(`input_range_${i}`, DataType.DOUBLE, []))]);
}

/** Integers as balanced base-256 digits in [-128, 127], low first. */
function balancedBytes(values: Float64Array): { pieces: Float64Array[]; exponents: number[] } {
  const pieces: Float64Array[] = [];
  const exponents: number[] = [];
  let rest = values;
  for (let e = 0; rest.some((v) => v !== 0); e += 8) {
    const digit = rest.map((v) => v - 256 * Math.floor((v + 128) / 256));
    pieces.push(digit);
    exponents.push(e);
    rest = rest.map((v, i) => (v - digit[i]!) / 256);
  }
  return pieces.length ? { pieces, exponents } : { pieces: [new Float64Array(values.length)], exponents: [0] };
}

/**
 * A hyperprior model (bmshj2018-hyperprior, mbt2018-mean) as four ONNX graphs:
 * - `analysis`: g_a, x (image in [0, 1], NCHW) -> y; local, so it may run tile by tile;
 * - `encoder`: y -> `y_symbols` = round(y - means) (round(y) without means) and `z_symbols` =
 *   round(z - medians): h_a, the entropy bottleneck's rounding and, for mbt2018-mean, the float h_s
 *   for the means (Round is half to even, as tf.round); NCHW;
 * - `hyperDecoder`: the fixed-point h_s (`fixedPointHyperSynthesisToOnnx`), which both sides use to
 *   choose each y element's CDF table and the means that y_hat = symbols + means adds;
 * - `decoder`: `y_hat` -> `x_hat` through the integer g_s (`integerSynthesisToOnnx`).
 * Run `hyperDecoder` and `decoder` with graph optimizations off.
 */
export function hyperpriorToOnnx(m: HyperpriorModel, plan: IntegerSynthesisPlan, fixedPoint: FixedPointHyperSynthesis): { analysis: Uint8Array; encoder: Uint8Array; hyperDecoder: Uint8Array; decoder: Uint8Array } {
  const medians = m.entropyBottleneck.medians();
  const medianData = medians.dataSync() as Float32Array;
  medians.dispose();
  const e = new GraphBuilder();
  const z = hyperNodes(e, m.variant === 'scale' ? e.node('Abs', ['y']) : 'y', m.hA, m.variant, false);
  const median = e.constant('medians', medianData, [1, m.N, 1, 1]);
  const zSymbols = e.node('Round', [e.node('Sub', [z, median])]);
  const ySymbols = m.variant === 'scale' ? e.node('Round', ['y']) : e.node('Round', [e.node('Sub', ['y', hyperMeansNodes(e, e.node('Add', [zSymbols, median]), m)])]);
  e.rename(ySymbols, 'y_symbols');
  e.rename(zSymbols, 'z_symbols');
  const encoder = e.model('encoder', [nchw('y', m.M, '_y')], [nchw('y_symbols', m.M, '_y'), nchw('z_symbols', m.N, '_z')]);
  const analysis = transformToOnnx(m.gA, false, { input: 'x', output: 'y' });
  return { analysis, encoder, hyperDecoder: fixedPointHyperSynthesisToOnnx(fixedPoint), decoder: integerSynthesisToOnnx(plan) };
}
