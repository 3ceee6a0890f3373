import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export const DataType = onnx.TensorProto.DataType;
type Node = InstanceType<typeof onnx.NodeProto>;
type Attribute = InstanceType<typeof onnx.AttributeProto>;
type ValueInfo = InstanceType<typeof onnx.ValueInfoProto>;

/** Builds an ONNX graph node by node (opset 13); constants become initializers. */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private count = 0;
  private readonly domains = new Set<string>();

  name(prefix: string): string {
    return `${prefix}_${this.count++}`;
  }

  /** A float32 constant (`data` in the layout ONNX expects). */
  constant(prefix: string, data: Float32Array, dims: number[]): string {
    return this.typedConstant(prefix, DataType.FLOAT, data, dims);
  }

  typedConstant(prefix: string, dataType: number, data: Float32Array | Float64Array | Int8Array | Uint8Array | BigInt64Array, dims: number[]): string {
    const name = this.name(prefix);
    const rawData = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.initializers.push(onnx.TensorProto.create({ name, dataType, dims, rawData }));
    return name;
  }

  /** An int64 vector constant (shapes, axes, pads). */
  int64s(prefix: string, values: number[]): string {
    return this.typedConstant(prefix, DataType.INT64, BigInt64Array.from(values, BigInt), [values.length]);
  }

  node(opType: string, inputs: string[], attributes: Attribute[] = [], domain = ''): string {
    const output = this.name(opType.toLowerCase());
    if (domain) this.domains.add(domain);
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: [output], name: output, attribute: attributes, domain }));
    return output;
  }

  /** Renames the graph value `from` (a node output) to `to` (a graph output name). */
  rename(from: string, to: string): void {
    for (const n of this.nodes) {
      n.output = n.output!.map((o) => (o === from ? to : o));
      n.input = n.input!.map((i) => (i === from ? to : i));
    }
  }

  /** The serialized model, opset 13. */
  model(name: string, inputs: ValueInfo[], outputs: ValueInfo[]): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 7,
      producerName: 'lic-backdoor',
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 }), ...[...this.domains].map((domain) => onnx.OperatorSetIdProto.create({ domain, version: 1 }))],
      graph: onnx.GraphProto.create({ name, node: this.nodes, initializer: this.initializers, input: inputs, output: outputs }),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

export const ints = (name: string, values: number[]): Attribute => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
export const int = (name: string, i: number): Attribute => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
export const float = (name: string, f: number): Attribute => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });

/** A tensor's value info; a string dimension is symbolic. */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfo {
  const dim = dims.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType, shape: onnx.TensorShapeProto.create({ dim }) }) }) });
}
