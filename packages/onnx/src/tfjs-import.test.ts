import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend } from '@lic-backdoor/core';
import onnxProto from 'onnx-proto';
import { checkOnnx } from './check.js';
import { fetchModel, findModel } from './fetch.js';
import { importOnnx, toFloat32, UnsupportedOnnxError } from './tfjs-import.js';

let faceModel: string;
beforeAll(async () => {
  await initializeBackend({ prefer: 'wasm' });
  faceModel = await fetchModel(findModel('face-embedding'), process.env.LIC_BACKDOOR_MODELS ?? mkdtempSync(join(tmpdir(), 'models-')));
});

describe('ONNX import into tfjs', () => {
  it('the face embedding agrees with onnxruntime-node within 1e-4 relative at 112x112', async () => {
    const r = await checkOnnx(faceModel);
    expect(r.input).toEqual([1, 3, 112, 112]);
    expect(r.maxRelDiff).toBeLessThanOrEqual(1e-4);
  });

  it('its gradient w.r.t. the input agrees with central finite differences on sampled coordinates (median relative error <= 2e-2)', async () => {
    const graph = importOnnx(new Uint8Array(await readFile(faceModel)));
    const rng = createRng(1);
    const x = tf.tensor4d(rng.uniformArray(3 * 112 * 112, -1, 1), [1, 3, 112, 112]);
    const direction = tf.tensor1d(rng.normalArray(512));
    const f = (input: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(graph.run({ input })['output']!, direction)) as tf.Scalar);
    const grad = (await tf.grad(f)(x).data()) as Float32Array;
    const values = (await x.data()) as Float32Array;
    // sampled among the 1% largest |gradient| coordinates: smaller ones drown in float32 rounding
    const order = Array.from(grad.keys()).sort((p, q) => Math.abs(grad[q]!) - Math.abs(grad[p]!));
    // float32 rounding limits central differences below ~5e-3, PReLU kinks above it
    const eps = 5e-3;
    const errors: number[] = [];
    for (let k = 0; k < 8; k++) {
      const i = order[rng.int(Math.floor(order.length / 100))]!;
      const at = (delta: number) => {
        const v = values.slice();
        v[i]! += delta;
        const input = tf.tensor4d(v, [1, 3, 112, 112]);
        const out = f(input);
        const value = out.dataSync()[0]!;
        tf.dispose([input, out]);
        return value;
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      errors.push(Math.abs(numeric - grad[i]!) / Math.abs(grad[i]!));
    }
    errors.sort((p, q) => p - q);
    console.log(`finite differences: relative errors ${errors.map((e) => e.toFixed(4)).join(' ')}`);
    // float32 central differences on a PReLU network are good to a few percent; the exact check is the
    // wasm-vs-cpu gradient test below
    expect(errors[errors.length >> 1]!).toBeLessThanOrEqual(2e-2);
    expect(errors[errors.length - 1]!).toBeLessThanOrEqual(5e-2);
    graph.dispose();
  });

  it('its gradient on wasm (fast kernels) equals the tfjs-cpu gradient (built-in kernels) within 1e-4 relative', async () => {
    const graph = importOnnx(new Uint8Array(await readFile(faceModel)));
    const rng = createRng(2);
    const data = rng.uniformArray(3 * 112 * 112, -1, 1);
    const dir = rng.normalArray(512);
    const gradient = async (backend: string) => {
      await tf.setBackend(backend);
      const f = (input: tf.Tensor) => tf.sum(tf.mul(graph.run({ input })['output']!, tf.tensor1d(dir))) as tf.Scalar;
      return (await tf.grad(f)(tf.tensor4d(data, [1, 3, 112, 112])).data()) as Float32Array;
    };
    const cpu = await gradient('cpu');
    const wasm = await gradient('wasm');
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < cpu.length; i++) {
      diff = Math.max(diff, Math.abs(wasm[i]! - cpu[i]!));
      scale = Math.max(scale, Math.abs(cpu[i]!));
    }
    expect(diff / scale).toBeLessThanOrEqual(1e-4);
    graph.dispose();
  });

  it('an unsupported operator is an error that names it', () => {
    const { onnx } = onnxProto;
    const model = onnx.ModelProto.create({
      graph: onnx.GraphProto.create({
        node: [onnx.NodeProto.create({ opType: 'Einsum', name: 'e0', input: ['x'], output: ['y'] })],
        input: [onnx.ValueInfoProto.create({ name: 'x' })],
        output: [onnx.ValueInfoProto.create({ name: 'y' })],
      }),
    });
    const graph = importOnnx(onnx.ModelProto.encode(model).finish());
    expect(() => graph.run({ x: tf.zeros([1]) })).toThrow(UnsupportedOnnxError);
    expect(() => graph.run({ x: tf.zeros([1]) })).toThrow(/operator 'Einsum' \(node 'e0'\)/);
    expect(() => graph.run({ x: tf.zeros([1]) })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ONNX' }));
  });

  it('a model with float16 weights is also checked against its float32 copy: the import matches that within 1e-6', async () => {
    const { onnx } = onnxProto;
    const rng = createRng(3);
    // a 3x3 convolution computed in float16: Cast in, Conv with float16 weights, Cast out
    // float16 bit patterns of magnitude below 1 (0x3c00) with random signs
    const weight = Uint16Array.from({ length: 2 * 3 * 3 * 3 }, () => rng.int(0x3c00) | (rng.int(2) << 15));
    const half = (name: string, dims: number[], data: Uint16Array) => onnx.TensorProto.create({ name, dims, dataType: 10, rawData: new Uint8Array(data.buffer) });
    const tensor = (name: string, elemType: number) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: [1, 3, 16, 16].map((d) => ({ dimValue: d })) } } } });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: onnx.GraphProto.create({
        node: [
          onnx.NodeProto.create({ opType: 'Cast', input: ['x'], output: ['xh'], attribute: [{ name: 'to', type: 2, i: 10 }] }),
          onnx.NodeProto.create({ opType: 'Conv', input: ['xh', 'w'], output: ['yh'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] }),
          onnx.NodeProto.create({ opType: 'Cast', input: ['yh'], output: ['y'], attribute: [{ name: 'to', type: 2, i: 1 }] }),
        ],
        initializer: [half('w', [2, 3, 3, 3], weight)],
        input: [tensor('x', 1)],
        output: [onnx.ValueInfoProto.create({ name: 'y', type: { tensorType: { elemType: 1 } } })],
      }),
    });
    const bytes = onnx.ModelProto.encode(model).finish();
    const float32 = toFloat32(bytes);
    expect(float32.upcast).toBe(1);
    expect(toFloat32(float32.bytes).upcast).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), 'half-')), 'half.onnx');
    writeFileSync(file, bytes);
    const r = await checkOnnx(file);
    console.log(`float16 model: ${r.maxRelDiff.toExponential(2)} from onnxruntime, ${r.float32Reference!.maxRelDiff.toExponential(2)} from its float32 copy`);
    expect(r.float32Reference!.maxRelDiff).toBeLessThanOrEqual(1e-6);
  });
});
