import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend } from '@lic-backdoor/core';
import { FactorizedPrior } from './models/factorized.js';
import { transformToOnnx } from './onnx-export.js';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('codec transforms exported to ONNX', () => {
  it('g_a and g_s run in onnxruntime-node and equal the tfjs outputs within 1e-4', async () => {
    const model = new FactorizedPrior(8, 12, 7);
    const rng = createRng(3);
    const x = tf.tensor4d(rng.uniformArray(2 * 64 * 96 * 3), [2, 64, 96, 3]);
    const y = model.analysis(x);
    const xHat = model.synthesis(tf.round(y) as tf.Tensor4D);
    const run = async (bytes: Uint8Array, input: tf.Tensor4D) => {
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
      const nchw = tf.transpose(input, [0, 3, 1, 2]);
      const out = await session.run({ x: new ort.Tensor('float32', (await nchw.data()) as Float32Array, nchw.shape) });
      await session.release();
      return out.y!;
    };
    const yOrt = await run(transformToOnnx(model.gA, false, { input: 'x', output: 'y' }), x);
    expect(yOrt.dims).toEqual([2, 12, 4, 6]);
    expect(maxRelative(yOrt.data as Float32Array, await tf.transpose(y, [0, 3, 1, 2]).data())).toBeLessThanOrEqual(1e-4);
    const xOrt = await run(transformToOnnx(model.gS, true, { input: 'x', output: 'y' }), tf.round(y) as tf.Tensor4D);
    expect(xOrt.dims).toEqual([2, 3, 64, 96]);
    expect(maxRelative(xOrt.data as Float32Array, await tf.transpose(xHat, [0, 3, 1, 2]).data())).toBeLessThanOrEqual(1e-4);
  });
});
