import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import type { ConvParams } from './layers/conv.js';
import { GDN_BETA_MIN, nonNegative, type GdnParams } from './layers/gdn.js';
import type { Transform } from './models/factorized.js';
import type { HyperpriorModel, HyperpriorVariant } from './models/hyperprior.js';
import { HIDDEN_FRACTION, NORM_SHIFT, SPLIT_BITS, SQUARE_SPLIT_BITS, type IntegerSynthesisPlan, type WeightPieces } from './layers/integer-synthesis.js';

const { onnx } = onnxProto;

/** Builds an ONNX graph node by node; initializers are float32 in PyTorch layouts. */
class GraphBuilder {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private count = 0;

  name(prefix: string): string {
    return `${prefix}_${this.count++}`;
  }

  constant(prefix: string, data: Float32Array, dims: number[]): string {
    const name = this.name(prefix);
    this.initializers.push(onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) }));
    return name;
  }

  node(opType: string, inputs: string[], attributes: InstanceType<typeof onnx.AttributeProto>[] = []): string {
    const output = this.name(opType.toLowerCase());
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: [output], name: output, attribute: attributes }));
    return output;
  }
}

const ints = (name: string, values: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });

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

/** An NCHW float tensor with `c` channels and symbolic batch and spatial sizes. */
function nchw(name: string, c: number, suffix: string) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: onnx.TensorShapeProto.create({
          dim: [{ dimParam: 'n' }, { dimValue: c }, { dimParam: `h${suffix}` }, { dimParam: `w${suffix}` }].map((d) => onnx.TensorShapeProto.Dimension.create(d)),
        }),
      }),
    }),
  });
}

/** Renames the graph value `from` (a node output) to the graph output name `to`. */
function rename(g: GraphBuilder, from: string, to: string): void {
  for (const n of g.nodes) {
    n.output = n.output!.map((o) => (o === from ? to : o));
    n.input = n.input!.map((i) => (i === from ? to : i));
  }
}

function modelBytes(g: GraphBuilder, name: string, inputs: ReturnType<typeof nchw>[], outputs: ReturnType<typeof nchw>[]): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'lic-backdoor',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph: onnx.GraphProto.create({ name, node: g.nodes, initializer: g.initializers, input: inputs, output: outputs }),
  });
  return onnx.ModelProto.encode(model).finish();
}

const channels = (c: ConvParams, side: 'in' | 'out') => c.weight.shape[(side === 'in') === c.transposed ? 3 : 2]!;

/**
 * An analysis or synthesis transform (convs with GDN / inverse GDN between them) as an ONNX model:
 * input `x` and output `y` in NCHW, opset 13, as the CompressAI layers compute them.
 */
export function transformToOnnx(t: Transform, inverse: boolean, io: { input: string; output: string }): Uint8Array {
  const g = new GraphBuilder();
  rename(g, transformNodes(g, io.input, t, inverse), io.output);
  return modelBytes(g, inverse ? 'synthesis' : 'analysis', [nchw(io.input, channels(t.convs[0]!, 'in'), '_in')], [nchw(io.output, channels(t.convs[t.convs.length - 1]!, 'out'), '_out')]);
}

/** x * c for a float constant c (a power of two here, so exact). */
function scale(g: GraphBuilder, x: string, c: number): string {
  return g.node('Mul', [x, g.constant('c', new Float32Array([c]), [])]);
}

/** round(v 2^fraction) clipped to +-2^15, as `runIntegerSynthesis` computes it. */
function toIntegerNodes(g: GraphBuilder, v: string, fraction: number): string {
  return g.node('Clip', [g.node('Round', [scale(g, v, 2 ** fraction)]), g.constant('min', new Float32Array([-(2 ** 15)]), []), g.constant('max', new Float32Array([2 ** 15]), [])]);
}

/** [hi, lo] with a = hi 2^bits + lo. */
function splitNodes(g: GraphBuilder, a: string, bits: number): [string, string] {
  const hi = g.node('Floor', [scale(g, a, 2 ** -bits)]);
  return [hi, g.node('Sub', [a, scale(g, hi, 2 ** bits)])];
}

/** The exact sum of `runIntegerSynthesis`, in its order: high activation piece first, weight pieces low to high. */
function exactSumNodes(g: GraphBuilder, parts: [string, string], bits: number, w: WeightPieces, product: (a: string, piece: number) => string): string {
  let acc: string | undefined;
  parts.forEach((a, p) =>
    w.pieces.forEach((_, q) => {
      const term = scale(g, product(a, q), 2 ** ((p === 0 ? bits : 0) + w.exponents[q]!));
      acc = acc ? g.node('Add', [acc, term]) : term;
    }),
  );
  return acc!;
}

/** g_s in integer arithmetic (`planIntegerSynthesis`): the same element-wise operations in the same order as tfjs. */
function integerSynthesisNodes(g: GraphBuilder, yHat: string, plan: IntegerSynthesisPlan): string {
  let v = yHat;
  plan.convs.forEach((c, i) => {
    const [k, , out, cin] = c.shape;
    const pad = Math.floor(k / 2);
    // tfjs [k, k, out, in] -> ONNX ConvTranspose [in, out, k, k]
    const weights = c.weights.pieces.map((piece, q) => {
      const t = tf.tidy(() => tf.transpose(tf.tensor4d(piece, c.shape), [3, 2, 0, 1]));
      const name = g.constant(`g_s.${2 * i}.piece${q}`, t.dataSync() as Float32Array, [cin, out, k, k]);
      t.dispose();
      return name;
    });
    const attributes = [ints('kernel_shape', [k, k]), ints('strides', [c.stride, c.stride]), ints('pads', [pad, pad, pad, pad]), ints('output_padding', [c.stride - 1, c.stride - 1])];
    const a = toIntegerNodes(g, v, c.inputFraction);
    const acc = exactSumNodes(g, splitNodes(g, a, SPLIT_BITS), SPLIT_BITS, c.weights, (x, q) => g.node('ConvTranspose', [x, weights[q]!], attributes));
    v = g.node('Add', [scale(g, acc, 2 ** -(c.inputFraction + c.weights.fraction)), g.constant(`g_s.${2 * i}.bias`, c.bias, [out, 1, 1])]);
    const gdn = plan.gdns[i];
    if (!gdn) return;
    const n = gdn.channels;
    // gamma^T pieces [in, out] -> 1x1 Conv weights [out, in, 1, 1]
    const gammas = gdn.gamma.pieces.map((piece, q) => {
      const t = tf.tidy(() => tf.transpose(tf.tensor2d(piece, [n, n])));
      const name = g.constant(`g_s.${2 * i + 1}.gamma.piece${q}`, t.dataSync() as Float32Array, [n, n, 1, 1]);
      t.dispose();
      return name;
    });
    const ai = toIntegerNodes(g, v, HIDDEN_FRACTION);
    const xr = g.node('Floor', [scale(g, ai, 2 ** -NORM_SHIFT)]);
    const norm = exactSumNodes(g, splitNodes(g, g.node('Mul', [xr, xr]), SQUARE_SPLIT_BITS), SQUARE_SPLIT_BITS, gdn.gamma, (x, q) => g.node('Conv', [x, gammas[q]!], [ints('kernel_shape', [1, 1])]));
    const beta = g.constant(`g_s.${2 * i + 1}.beta`, gdn.beta, [n, 1, 1]);
    const sqrt = g.node('Sqrt', [g.node('Add', [scale(g, norm, 2 ** -(2 * (HIDDEN_FRACTION - NORM_SHIFT) + gdn.gamma.fraction)), beta])]);
    v = g.node('Mul', [scale(g, ai, 2 ** -HIDDEN_FRACTION), sqrt]);
  });
  return v;
}

/**
 * The integer g_s (`planIntegerSynthesis`) as an ONNX model: `y_hat` -> `x_hat`, NCHW, opset 13.
 * Convolutions see only integers whose sums stay below 2^24, and every other operation is
 * element-wise, so onnxruntime gives the tfjs codec's image bit for bit. Run it with graph
 * optimizations off: a fusion may fold a non-integer constant into a convolution.
 */
export function integerSynthesisToOnnx(plan: IntegerSynthesisPlan): Uint8Array {
  const g = new GraphBuilder();
  rename(g, integerSynthesisNodes(g, 'y_hat', plan), 'x_hat');
  return modelBytes(g, 'integer-synthesis', [nchw('y_hat', plan.convs[0]!.shape[3], '_y')], [nchw('x_hat', 3, '')]);
}

/** h_a or h_s with the activations of the model's variant (ReLU, or LeakyReLU 0.01 for mbt2018-mean). */
function hyperNodes(g: GraphBuilder, x: string, convs: readonly ConvParams[], variant: HyperpriorVariant, finalActivation: boolean): string {
  let h = x;
  convs.forEach((c, i) => {
    h = convNode(g, h, c);
    if (i < convs.length - 1 || finalActivation) h = variant === 'scale' ? g.node('Relu', [h]) : g.node('LeakyRelu', [h], [onnx.AttributeProto.create({ name: 'alpha', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0.01 })]);
  });
  return h;
}

/** h_s: z_hat -> [scales, means] (means only for mbt2018-mean: CompressAI's chunk of the channels). */
function hyperSynthesisNodes(g: GraphBuilder, zHat: string, m: HyperpriorModel): [string, string | undefined] {
  const h = hyperNodes(g, zHat, m.hS, m.variant, m.variant === 'scale');
  if (m.variant === 'scale') return [h, undefined];
  const [scales, means] = [g.name('scales'), g.name('means')];
  g.nodes.push(onnx.NodeProto.create({ opType: 'Split', input: [h], output: [scales, means], name: g.name('split'), attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })] }));
  return [scales, means];
}

/**
 * A hyperprior model (bmshj2018-hyperprior, mbt2018-mean) as two ONNX graphs, NCHW, opset 13:
 * - `encoder`: x -> `y_symbols` = round(y - means) (round(y) without means) and `z_symbols` =
 *   round(z - medians): g_a, h_a, the entropy bottleneck's rounding and, for mbt2018-mean, h_s for
 *   the means, all in the graph (Round is half to even, as tf.round);
 * - `decoder`: `y_hat` -> `x_hat` through the integer g_s (`integerSynthesisToOnnx`), and
 *   `z_hat` (z symbols + medians) -> `scales` (and `means` for mbt2018-mean) through the float h_s.
 * Codecs choose the CDF tables and the means outside both graphs, from the z symbols in fixed point
 * (`FixedPointHyperSynthesis`), and feed y_hat = y symbols + means (`dequantizeSymbols`); the float
 * h_s outputs are there for inspection and deployment. Run the decoder with graph optimizations off.
 */
export function hyperpriorToOnnx(m: HyperpriorModel, plan: IntegerSynthesisPlan): { encoder: Uint8Array; decoder: Uint8Array } {
  const medians = m.entropyBottleneck.medians();
  const medianData = medians.dataSync() as Float32Array;
  medians.dispose();
  const e = new GraphBuilder();
  const y = transformNodes(e, 'x', m.gA, false);
  const z = hyperNodes(e, m.variant === 'scale' ? e.node('Abs', [y]) : y, m.hA, m.variant, false);
  const median = e.constant('medians', medianData, [1, m.N, 1, 1]);
  const zSymbols = e.node('Round', [e.node('Sub', [z, median])]);
  let ySymbols: string;
  if (m.variant === 'scale') ySymbols = e.node('Round', [y]);
  else {
    const [, means] = hyperSynthesisNodes(e, e.node('Add', [zSymbols, median]), m);
    ySymbols = e.node('Round', [e.node('Sub', [y, means!])]);
  }
  rename(e, ySymbols, 'y_symbols');
  rename(e, zSymbols, 'z_symbols');
  const encoder = modelBytes(e, 'encoder', [nchw('x', 3, '')], [nchw('y_symbols', m.M, '_y'), nchw('z_symbols', m.N, '_z')]);

  const d = new GraphBuilder();
  const [scales, means] = hyperSynthesisNodes(d, 'z_hat', m);
  rename(d, integerSynthesisNodes(d, 'y_hat', plan), 'x_hat');
  rename(d, scales, 'scales');
  if (means) rename(d, means, 'means');
  const outputs = [nchw('x_hat', 3, ''), nchw('scales', m.M, '_y'), ...(means ? [nchw('means', m.M, '_y')] : [])];
  const decoder = modelBytes(d, 'decoder', [nchw('z_hat', m.N, '_z'), nchw('y_hat', m.M, '_y')], outputs);
  return { encoder, decoder };
}
