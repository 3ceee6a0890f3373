import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

// onnx-proto is CommonJS: take the namespace from its default export.
const { onnx } = onnxProto;
import { LicBackdoorError, halfToFloat } from '@lic-backdoor/core';
import type { OnnxErrorCode } from './fetch.js';

/** An ONNX operator (or attribute value) this importer does not lower. */
export class UnsupportedOnnxError extends LicBackdoorError<OnnxErrorCode> {
  constructor(message: string) {
    super('UNSUPPORTED_ONNX', message);
  }
}

/** A value known when the graph is lowered (shapes, constants), kept in JS. */
class Const {
  /** The tensor of an initializer, made once and kept. */
  tensor: tf.Tensor | undefined;
  constructor(
    readonly data: number[],
    readonly dims: number[],
    readonly float: boolean,
  ) {}
}

type Value = tf.Tensor | Const;

/** An ONNX graph lowered to a differentiable tfjs function for fixed input shapes. */
export interface ImportedOnnx {
  readonly inputNames: string[];
  /** Declared shape of each input (-1 where the model leaves a dimension symbolic). */
  readonly inputShapes: Record<string, number[]>;
  readonly outputNames: string[];
  /** Runs the graph on NCHW float32 inputs (as the ONNX model defines them) and returns every output. */
  run(inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor>;
  /** Releases the initializers. */
  dispose(): void;
}

const INT64 = 7;
const INT32 = 6;
const FLOAT = 1;
const DOUBLE = 11;
const FLOAT16 = 10;


function num(v: unknown): number {
  return typeof v === 'number' ? v : Number((v as { toString(): string }).toString());
}

function tensorProto(t: OnnxTypes.ITensorProto): Const {
  const dims = (t.dims ?? []).map(num);
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const count = dims.reduce((a, b) => a * b, 1);
  let data: number[];
  switch (t.dataType) {
    case FLOAT:
      data = view ? Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, true)) : (t.floatData ?? []).map(Number);
      return new Const(data, dims, true);
    case FLOAT16:
      data = view ? Array.from({ length: count }, (_, i) => halfToFloat(view.getUint16(i * 2, true))) : (t.int32Data ?? []).map((v) => halfToFloat(Number(v)));
      return new Const(data, dims, true);
    case DOUBLE:
      data = view ? Array.from({ length: count }, (_, i) => view.getFloat64(i * 8, true)) : (t.doubleData ?? []).map(Number);
      return new Const(data, dims, true);
    case INT64:
      data = view ? Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true))) : (t.int64Data ?? []).map(num);
      return new Const(data, dims, false);
    case INT32:
      data = view ? Array.from({ length: count }, (_, i) => view.getInt32(i * 4, true)) : (t.int32Data ?? []).map(Number);
      return new Const(data, dims, false);
    default:
      throw new UnsupportedOnnxError(`tensor '${t.name}' has unsupported data type ${t.dataType}`);
  }
}

function attrs(node: OnnxTypes.INodeProto): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of node.attribute ?? []) {
    if (a.ints && a.ints.length) out[a.name!] = a.ints.map(num);
    else if (a.floats && a.floats.length) out[a.name!] = [...a.floats];
    else if (a.t) out[a.name!] = tensorProto(a.t);
    else if (a.s && a.s.length) out[a.name!] = new TextDecoder().decode(a.s);
    else if (a.type === 2 || a.i !== undefined && a.i !== null && num(a.i) !== 0) out[a.name!] = num(a.i);
    else if (a.type === 1) out[a.name!] = a.f;
    else out[a.name!] = num(a.i ?? 0);
  }
  return out;
}

const toTensor = (v: Value): tf.Tensor => (v instanceof Const ? (v.tensor ?? tf.tensor(v.data, v.dims, v.float ? 'float32' : 'int32')) : v);
const nchwToNhwc = (x: tf.Tensor) => tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
const nhwcToNchw = (x: tf.Tensor) => tf.transpose(x, [0, 3, 1, 2]) as tf.Tensor4D;

/**
 * Lowers an ONNX model to tfjs. Values stay in ONNX's NCHW layout; spatial operators (Conv,
 * MaxPool, Resize, BatchNormalization) transpose to NHWC around the tfjs kernel. Shape arithmetic
 * (Shape, Gather, Slice, Unsqueeze, Concat, Cast, Constant on known values) is folded to constants.
 */
export function importOnnx(bytes: Uint8Array): ImportedOnnx {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const initializers = new Map<string, tf.Tensor>();
  const constants = new Map<string, Const>();
  for (const t of graph.initializer ?? []) {
    const c = tensorProto(t);
    constants.set(t.name!, c);
    if (c.float) {
      c.tensor = tf.keep(tf.tensor(c.data, c.dims, 'float32'));
      initializers.set(t.name!, c.tensor);
    }
  }
  const initNames = new Set(constants.keys());
  const inputNames = (graph.input ?? []).map((i) => i.name!).filter((n) => !initNames.has(n));
  const outputNames = (graph.output ?? []).map((o) => o.name!);
  const nodes = topologicalOrder(graph.node ?? [], new Set([...initNames, ...inputNames]));

  const run = (inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor> => {
    const values = new Map<string, Value>();
    for (const [k, c] of constants) values.set(k, c);
    for (const n of inputNames) {
      if (!inputs[n]) throw new Error(`missing input '${n}'`);
      values.set(n, inputs[n]!);
    }
    const get = (name: string): Value => {
      const v = values.get(name);
      if (v === undefined) throw new Error(`ONNX value '${name}' is not defined`);
      return v;
    };
    for (const node of nodes) {
      const ins = (node.input ?? []).map((n) => (n === '' ? undefined : get(n)));
      const outs = lower(node, ins, attrs(node));
      (node.output ?? []).forEach((name, i) => values.set(name, outs[i]!));
    }
    const result: Record<string, tf.Tensor> = {};
    for (const n of outputNames) result[n] = toTensor(get(n));
    return result;
  };
  const inputShapes: Record<string, number[]> = {};
  for (const i of graph.input ?? []) {
    if (initNames.has(i.name!)) continue;
    inputShapes[i.name!] = (i.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : -1));
  }
  return { inputNames, inputShapes, outputNames, run, dispose: () => tf.dispose([...initializers.values()]) };
}

/** Nodes ordered so that every input is produced before use (some exporters do not sort them). */
function topologicalOrder(nodes: OnnxTypes.INodeProto[], available: Set<string>): OnnxTypes.INodeProto[] {
  const ready = new Set(available);
  ready.add('');
  const pending = [...nodes];
  const ordered: OnnxTypes.INodeProto[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const n = pending[i]!;
      if ((n.input ?? []).every((x) => ready.has(x))) {
        ordered.push(n);
        for (const o of n.output ?? []) ready.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const missing = (pending[0]!.input ?? []).filter((x) => !ready.has(x));
      throw new UnsupportedOnnxError(`ONNX graph has a cycle or undefined inputs (${missing.join(', ')} of node '${pending[0]!.name}')`);
    }
  }
  return ordered;
}

function lower(node: OnnxTypes.INodeProto, ins: (Value | undefined)[], a: Record<string, unknown>): Value[] {
  const op = node.opType!;
  const x = ins[0];
  const T = (i: number) => toTensor(ins[i]!);
  const C = (i: number): Const => {
    const v = ins[i];
    if (!(v instanceof Const)) throw new UnsupportedOnnxError(`${op} '${node.name}': input ${i} must be known when lowering`);
    return v;
  };
  switch (op) {
    case 'Conv':
      return [conv(T(0) as tf.Tensor4D, T(1) as tf.Tensor4D, ins[2] ? T(2) : undefined, a)];
    case 'Relu':
      return [tf.relu(T(0))];
    case 'PRelu':
      // max(x, 0) + slope * min(x, 0), with ONNX broadcasting (tfjs-wasm's Prelu assumes channels last)
      return [tf.add(tf.relu(T(0)), tf.mul(T(1), tf.minimum(T(0), 0)))];
    case 'LeakyRelu':
      return [tf.leakyRelu(T(0), (a.alpha as number) ?? 0.01)];
    case 'Sigmoid':
      return [tf.sigmoid(T(0))];
    case 'Exp':
      return [tf.exp(T(0))];
    case 'Sqrt':
      return [tf.sqrt(T(0))];
    case 'Abs':
      return [tf.abs(T(0))];
    case 'Floor':
      return [tf.floor(T(0))];
    case 'Round':
      // half to even in both
      return [tf.round(T(0))];
    case 'Clip': {
      // opset >= 11: min and max are optional inputs; before: attributes
      const bound = (i: number, attribute: string, fallback: number) => (ins[i] ? C(i).data[0]! : ((a[attribute] as number | undefined) ?? fallback));
      return [tf.clipByValue(T(0), bound(1, 'min', -3.4028234663852886e38), bound(2, 'max', 3.4028234663852886e38))];
    }
    case 'ConvTranspose':
      return [convTranspose(T(0) as tf.Tensor4D, T(1) as tf.Tensor4D, ins[2] ? T(2) : undefined, a, node)];
    case 'Softmax':
      return [tf.softmax(T(0), normAxis((a.axis as number) ?? -1, T(0).rank))];
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      if (x instanceof Const && ins[1] instanceof Const) return [arith(op, x, ins[1])];
      return [({ Add: tf.add, Sub: tf.sub, Mul: tf.mul, Div: tf.div } as const)[op](T(0), T(1))];
    case 'MatMul':
      return [tf.matMul(T(0), T(1))];
    case 'Gemm': {
      const y = tf.matMul(T(0), T(1), Boolean(a.transA), Boolean(a.transB));
      const scaled = tf.mul(y, (a.alpha as number) ?? 1);
      return [ins[2] ? tf.add(scaled, tf.mul(T(2), (a.beta as number) ?? 1)) : scaled];
    }
    case 'BatchNormalization': {
      const [scale, bias, mean, variance] = [T(1), T(2), T(3), T(4)];
      const eps = (a.epsilon as number) ?? 1e-5;
      const shape = [1, -1, ...Array(T(0).rank - 2).fill(1)];
      const r = (t: tf.Tensor) => tf.reshape(t, shape);
      return [tf.add(tf.mul(tf.sub(T(0), r(mean)), r(tf.div(scale, tf.sqrt(tf.add(variance, eps))))), r(bias))];
    }
    case 'MaxPool':
      return [maxPool(T(0) as tf.Tensor4D, a)];
    case 'Concat': {
      if (ins.every((v) => v instanceof Const)) {
        return [new Const(ins.flatMap((v) => (v as Const).data), [ins.reduce((s, v) => s + (v as Const).data.length, 0)], (ins[0] as Const).float)];
      }
      const ts = ins.map((v) => toTensor(v!));
      return [tf.concat(ts, normAxis(a.axis as number, ts[0]!.rank))];
    }
    case 'Constant':
      return [a.value as Const];
    case 'Shape':
      return [new Const(x instanceof Const ? x.dims : T(0).shape, [x instanceof Const ? x.dims.length : T(0).rank], false)];
    case 'Cast':
      if (x instanceof Const && x.float && (a.to === FLOAT || a.to === DOUBLE || a.to === FLOAT16)) return [x];
      if (x instanceof Const) return [new Const(a.to === FLOAT || a.to === DOUBLE ? x.data : x.data.map(Math.trunc), x.dims, a.to === FLOAT || a.to === DOUBLE)];
      return [tf.cast(T(0), a.to === FLOAT || a.to === DOUBLE || a.to === FLOAT16 ? 'float32' : 'int32')];
    case 'Gather': {
      const idx = C(1);
      if (x instanceof Const && x.dims.length === 1) return [new Const(idx.data.map((i) => x.data[i < 0 ? i + x.data.length : i]!), idx.dims, x.float)];
      return [tf.gather(T(0), tf.tensor(idx.data, idx.dims.length ? idx.dims : [], 'int32'), normAxis((a.axis as number) ?? 0, T(0).rank))];
    }
    case 'Unsqueeze': {
      const axes = (a.axes as number[]) ?? C(1).data;
      if (x instanceof Const) return [new Const(x.data, x.dims.length === 0 ? [1] : [...x.dims, 1], x.float)];
      let t = T(0);
      for (const ax of [...axes].sort((p, q) => p - q)) t = tf.expandDims(t, ax < 0 ? ax + t.rank + 1 : ax);
      return [t];
    }
    case 'Slice': {
      const starts = (a.starts as number[]) ?? C(1).data;
      const ends = (a.ends as number[]) ?? C(2).data;
      const axes = (a.axes as number[]) ?? (ins[3] ? C(3).data : starts.map((_, i) => i));
      if (x instanceof Const && x.dims.length === 1) {
        const n = x.data.length;
        const clamp = (v: number) => Math.max(0, Math.min(n, v < 0 ? v + n : v));
        return [new Const(x.data.slice(clamp(starts[0]!), clamp(ends[0]!)), [clamp(ends[0]!) - clamp(starts[0]!)], x.float)];
      }
      const t = T(0);
      const begin = t.shape.map(() => 0);
      const size = [...t.shape];
      axes.forEach((ax, i) => {
        const d = normAxis(ax, t.rank);
        const n = t.shape[d]!;
        const s = Math.max(0, Math.min(n, starts[i]! < 0 ? starts[i]! + n : starts[i]!));
        const e = Math.max(0, Math.min(n, ends[i]! < 0 ? ends[i]! + n : ends[i]!));
        begin[d] = s;
        size[d] = e - s;
      });
      return [tf.slice(t, begin, size)];
    }
    case 'Reshape': {
      const target = C(1).data;
      const t = T(0);
      const shape = target.map((d, i) => (d === 0 ? t.shape[i]! : d));
      return [tf.reshape(t, shape)];
    }
    case 'Flatten': {
      const t = T(0);
      const axis = normAxis((a.axis as number) ?? 1, t.rank);
      const outer = t.shape.slice(0, axis).reduce((p, q) => p * q, 1);
      return [tf.reshape(t, [outer, -1])];
    }
    case 'Transpose':
      return [tf.transpose(T(0), a.perm as number[] | undefined)];
    case 'Resize':
      return [resize(T(0) as tf.Tensor4D, ins, a, node)];
    default:
      throw new UnsupportedOnnxError(`ONNX operator '${op}' (node '${node.name}') is not supported by the tfjs import`);
  }
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function arith(op: string, p: Const, q: Const): Const {
  const f = { Add: (u: number, v: number) => u + v, Sub: (u: number, v: number) => u - v, Mul: (u: number, v: number) => u * v, Div: (u: number, v: number) => (p.float ? u / v : Math.trunc(u / v)) }[op]!;
  const n = Math.max(p.data.length, q.data.length);
  return new Const(Array.from({ length: n }, (_, i) => f(p.data[i % p.data.length]!, q.data[i % q.data.length]!)), p.data.length >= q.data.length ? p.dims : q.dims, p.float || q.float);
}

function conv(x: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor | undefined, a: Record<string, unknown>): tf.Tensor4D {
  const group = (a.group as number) ?? 1;
  const strides = ((a.strides as number[]) ?? [1, 1]) as [number, number];
  const dilations = ((a.dilations as number[]) ?? [1, 1]) as [number, number];
  const [pt, pl, pb, pr] = (a.pads as number[]) ?? [0, 0, 0, 0];
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], [pt!, pb!], [pl!, pr!], [0, 0]];
  const [m, cPerGroup, kh, kw] = w.shape;
  const xh = nchwToNhwc(x);
  let y: tf.Tensor4D;
  if (group === 1) {
    y = tf.conv2d(xh, tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D, strides, pad, 'NHWC', dilations);
  } else if (cPerGroup === 1 && group === x.shape[1]) {
    const filter = tf.transpose(tf.reshape(w, [group, m / group, kh, kw]), [2, 3, 0, 1]) as tf.Tensor4D;
    y = tf.depthwiseConv2d(xh, filter, strides, pad, 'NHWC', dilations);
  } else {
    const xs = tf.split(xh, group, 3);
    const ws = tf.split(w, group, 0);
    y = tf.concat(xs.map((xi, g) => tf.conv2d(xi as tf.Tensor4D, tf.transpose(ws[g]!, [2, 3, 1, 0]) as tf.Tensor4D, strides, pad, 'NHWC', dilations)), 3);
  }
  if (bias) y = tf.add(y, bias);
  return nhwcToNchw(y);
}

function convTranspose(x: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor | undefined, a: Record<string, unknown>, node: OnnxTypes.INodeProto): tf.Tensor4D {
  if (((a.group as number) ?? 1) !== 1) throw new UnsupportedOnnxError(`ConvTranspose '${node.name}': groups are not supported`);
  const [sh, sw] = ((a.strides as number[]) ?? [1, 1]) as [number, number];
  const [pt, pl, pb, pr] = ((a.pads as number[]) ?? [0, 0, 0, 0]) as number[];
  const [oph, opw] = ((a.output_padding as number[]) ?? [0, 0]) as number[];
  const [, cout, kh, kw] = w.shape;
  const [n, , h, wd] = x.shape;
  const outH = (h - 1) * sh - pt! - pb! + kh + oph!;
  const outW = (wd - 1) * sw - pl! - pr! + kw + opw!;
  const filter = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;
  let y = tf.conv2dTranspose(nchwToNhwc(x), filter, [n, outH, outW, cout], [sh, sw], [[0, 0], [pt!, pb!], [pl!, pr!], [0, 0]] as unknown as number);
  if (bias) y = tf.add(y, bias);
  return nhwcToNchw(y);
}

function maxPool(x: tf.Tensor4D, a: Record<string, unknown>): tf.Tensor4D {
  const [kh, kw] = a.kernel_shape as number[];
  const [sh, sw] = ((a.strides as number[]) ?? [1, 1]) as number[];
  const [pt, pl, pb, pr] = ((a.pads as number[]) ?? [0, 0, 0, 0]) as number[];
  const [, , h, w] = x.shape;
  const outSize = (n: number, k: number, s: number, p: number) => (a.ceil_mode ? Math.ceil((n + p - k) / s) : Math.floor((n + p - k) / s)) + 1;
  const oh = outSize(h, kh!, sh!, pt! + pb!);
  const ow = outSize(w, kw!, sw!, pl! + pr!);
  const extraB = Math.max(0, (oh - 1) * sh! + kh! - (h + pt!));
  const extraR = Math.max(0, (ow - 1) * sw! + kw! - (w + pl!));
  const padded = tf.pad(nchwToNhwc(x), [[0, 0], [pt!, extraB], [pl!, extraR], [0, 0]], -3.4e38);
  return nhwcToNchw(tf.maxPool(padded, [kh!, kw!], [sh!, sw!], 'valid'));
}

function resize(x: tf.Tensor4D, ins: (Value | undefined)[], a: Record<string, unknown>, node: OnnxTypes.INodeProto): tf.Tensor4D {
  const [, , h, w] = x.shape;
  let size: [number, number];
  const sizes = ins[3];
  const scales = ins[2];
  if (sizes instanceof Const && sizes.data.length === 4) size = [sizes.data[2]!, sizes.data[3]!];
  else if (scales instanceof Const && scales.data.length === 4) size = [Math.floor(h * scales.data[2]!), Math.floor(w * scales.data[3]!)];
  else throw new UnsupportedOnnxError(`Resize '${node.name}': sizes or scales must be known when lowering`);
  const mode = (a.mode as string) ?? 'nearest';
  const ctm = (a.coordinate_transformation_mode as string) ?? 'half_pixel';
  const alignCorners = ctm === 'align_corners';
  const halfPixel = ctm === 'half_pixel' || ctm === 'pytorch_half_pixel';
  if (!['align_corners', 'half_pixel', 'pytorch_half_pixel', 'asymmetric'].includes(ctm)) {
    throw new UnsupportedOnnxError(`Resize '${node.name}': coordinate_transformation_mode '${ctm}' is not supported`);
  }
  const xh = nchwToNhwc(x);
  if (mode === 'linear') return nhwcToNchw(tf.image.resizeBilinear(xh, size, alignCorners, halfPixel));
  if (mode === 'nearest') return nhwcToNchw(tf.image.resizeNearestNeighbor(xh, size, alignCorners, halfPixel));
  throw new UnsupportedOnnxError(`Resize '${node.name}': mode '${mode}' is not supported`);
}

/**
 * Resize nodes whose target size is Concat(shape slice, Constant [h, w]) were exported for one
 * input size; scale those constants with the input (they must stay integers).
 */
function scaleResizeTargets(graph: OnnxTypes.IGraphProto, fy: number, fx: number): void {
  const producer = new Map<string, OnnxTypes.INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const done = new Set<OnnxTypes.INodeProto>();
  for (const resize of (graph.node ?? []).filter((n) => n.opType === 'Resize')) {
    const sizes = producer.get(resize.input?.[3] ?? '');
    if (!sizes || sizes.opType !== 'Concat') continue;
    for (const name of sizes.input ?? []) {
      const c = producer.get(name);
      if (!c || c.opType !== 'Constant' || done.has(c)) continue;
      const attr = c.attribute!.find((a) => a.name === 'value')!;
      const value = tensorProto(attr.t!);
      if (value.data.length !== 2 || value.float) continue;
      const scaled = [value.data[0]! * fy, value.data[1]! * fx];
      if (!scaled.every(Number.isInteger)) throw new UnsupportedOnnxError(`Resize target [${value.data}] does not scale to an integer size for this input size`);
      const raw = new Uint8Array(16);
      const view = new DataView(raw.buffer);
      scaled.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
      attr.t = onnx.TensorProto.create({ dataType: INT64, dims: [2], rawData: raw, name: attr.t!.name });
      done.add(c);
    }
  }
}

/**
 * The model with its (first) image input fixed to H x W and every output shape left symbolic, so
 * that onnxruntime runs a fully convolutional model at another size than it was exported with.
 */
export function withInputSize(bytes: Uint8Array, height: number, width: number): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name));
  const input = (graph.input ?? []).find((i) => !initNames.has(i.name));
  const dims = input?.type?.tensorType?.shape?.dim;
  if (!dims || dims.length !== 4) throw new UnsupportedOnnxError('the model has no 4-D image input to resize');
  const [oh, ow] = [num(dims[2]!.dimValue ?? 0), num(dims[3]!.dimValue ?? 0)];
  dims[2] = onnx.TensorShapeProto.Dimension.create({ dimValue: height });
  dims[3] = onnx.TensorShapeProto.Dimension.create({ dimValue: width });
  if (oh && ow && (oh !== height || ow !== width)) scaleResizeTargets(graph, height / oh, width / ow);
  for (const o of graph.output ?? []) {
    const od = o.type?.tensorType?.shape?.dim;
    if (od) od.forEach((_, i) => (od[i] = onnx.TensorShapeProto.Dimension.create({ dimParam: `d${i}` })));
  }
  graph.valueInfo = [];
  return onnx.ModelProto.encode(model).finish();
}

/** An initializer or Constant tensor in float16, rewritten in float32 (values unchanged). */
function upcastTensor(t: OnnxTypes.ITensorProto): number {
  if (t.dataType !== FLOAT16) return 0;
  const values = tensorProto(t).data;
  t.dataType = FLOAT;
  t.rawData = new Uint8Array(Float32Array.from(values).buffer);
  t.int32Data = [];
  return 1;
}

/**
 * The model with every float16 tensor, Cast target and declared type turned into float32: the
 * same weights, computed at float32 precision. Half-precision models (ISNet's `medium` file) run
 * in float16 on onnxruntime, about 1e-3 relative from any float32 computation; this copy is the
 * float32 reference that the tfjs import (always float32) is checked against. `upcast` counts the
 * tensors converted (0: the model had none in float16).
 */
export function toFloat32(bytes: Uint8Array): { bytes: Uint8Array; upcast: number } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  let upcast = 0;
  for (const t of graph.initializer ?? []) upcast += upcastTensor(t);
  for (const node of graph.node ?? [])
    for (const a of node.attribute ?? []) {
      if (a.t) upcast += upcastTensor(a.t);
      if (node.opType === 'Cast' && a.name === 'to' && num(a.i) === FLOAT16) a.i = FLOAT;
    }
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
    if (v.type?.tensorType?.elemType === FLOAT16) v.type.tensorType.elemType = FLOAT;
  return { bytes: onnx.ModelProto.encode(model).finish(), upcast };
}
