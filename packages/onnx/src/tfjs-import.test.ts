import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend } from '@lic-backdoor/core';
import onnxProto from 'onnx-proto';
import { checkOnnx } from './check.js';
import { fetchModel, findModel } from './fetch.js';
import { importOnnx, UnsupportedOnnxError } from './tfjs-import.js';

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
  });
});
