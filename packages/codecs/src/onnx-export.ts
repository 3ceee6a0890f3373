import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import type { ConvParams } from './layers/conv.js';
import { GDN_BETA_MIN, nonNegative, type GdnParams } from './layers/gdn.js';
import type { Transform } from './models/factorized.js';

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

/**
 * An analysis or synthesis transform (convs with GDN / inverse GDN between them) as an ONNX model:
 * input `x` and output `y` in NCHW, opset 13, as the CompressAI layers compute them.
 */
export function transformToOnnx(t: Transform, inverse: boolean, io: { input: string; output: string }): Uint8Array {
  const g = new GraphBuilder();
  let h = io.input;
  t.convs.forEach((c, i) => {
    h = convNode(g, h, c);
    if (i < t.gdns.length) h = gdnNodes(g, h, t.gdns[i]!, inverse);
  });
  const last = g.nodes[g.nodes.length - 1]!;
  last.output = [io.output];
  const channels = (c: ConvParams, side: 'in' | 'out') => c.weight.shape[(side === 'in') === c.transposed ? 3 : 2]!;
  const tensor = (name: string, c: number, suffix: string) =>
    onnx.ValueInfoProto.create({
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
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'lic-backdoor',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph: onnx.GraphProto.create({ name: inverse ? 'synthesis' : 'analysis', node: g.nodes, initializer: g.initializers, input: [tensor(io.input, channels(t.convs[0]!, 'in'), '_in')], output: [tensor(io.output, channels(t.convs[t.convs.length - 1]!, 'out'), '_out')] }),
  });
  return onnx.ModelProto.encode(model).finish();
}
