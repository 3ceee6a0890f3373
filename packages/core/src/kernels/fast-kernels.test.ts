import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initializeBackend } from '../backend.js';
import { createRng } from '../rng.js';

type Case = { kernel: number; stride: number; pad: 'same' | 'valid' | number; size: [number, number]; ci: number; co: number };

const cases: Case[] = [];
for (const kernel of [1, 3, 5]) {
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid', (kernel - 1) / 2] as const) {
      cases.push({ kernel, stride, pad, size: [9, 8], ci: 3, co: 5 });
    }
  }
}
cases.push({ kernel: 5, stride: 2, pad: 2, size: [16, 16], ci: 8, co: 6 });

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

async function gradients(backend: 'cpu' | 'wasm', c: Case, transpose: boolean) {
  await tf.setBackend(backend);
  const rng = createRng(c.kernel * 100 + c.stride * 10 + (typeof c.pad === 'number' ? c.pad : c.pad.length));
  const [h, w] = c.size;
  const x = tf.tensor4d(rng.normalArray(2 * h * w * c.ci), [2, h, w, c.ci]);
  const filter = tf.tensor4d(rng.normalArray(c.kernel * c.kernel * c.ci * c.co), [c.kernel, c.kernel, c.ci, c.co]);
  let y: tf.Tensor4D;
  let f: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D;
  if (!transpose) {
    f = (a, b) => tf.conv2d(a, b, c.stride, c.pad);
    y = f(x, filter);
  } else {
    // transposed conv: x plays the role of the output of a conv with co channels
    const out = tf.conv2d(tf.zeros([2, h, w, c.ci]), filter, c.stride, c.pad);
    const input = tf.tensor4d(rng.normalArray(out.size), out.shape);
    const tFilter = filter;
    f = (a, b) => tf.conv2dTranspose(a, b, [2, h, w, c.ci], c.stride, c.pad);
    y = f(input as tf.Tensor4D, tFilter);
    const dy = tf.tensor(rng.normalArray(y.size), y.shape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), dy)));
    const [gi, gf] = g([input, tFilter]);
    return { y: await y.data() as Float32Array, gi: await gi!.data() as Float32Array, gf: await gf!.data() as Float32Array };
  }
  const dy = tf.tensor(rng.normalArray(y.size), y.shape);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), dy)));
  const [gi, gf] = g([x, filter]);
  return { y: await y.data() as Float32Array, gi: await gi!.data() as Float32Array, gf: await gf!.data() as Float32Array };
}

beforeAll(async () => {
  await initializeBackend({ prefer: 'wasm' });
});

describe('fast convolution gradients on wasm match tfjs-cpu built-ins', () => {
  for (const c of cases) {
    for (const transpose of [false, true]) {
      const name = `${transpose ? 'conv2dTranspose' : 'conv2d'} k${c.kernel} s${c.stride} pad=${c.pad} ${c.size.join('x')}`;
      it(`${name}: output, input and filter gradients within 1e-5 relative`, async () => {
        const ref = await gradients('cpu', c, transpose);
        const fast = await gradients('wasm', c, transpose);
        expect(relativeError(fast.y, ref.y)).toBeLessThanOrEqual(1e-5);
        expect(relativeError(fast.gi, ref.gi)).toBeLessThanOrEqual(1e-5);
        expect(relativeError(fast.gf, ref.gf)).toBeLessThanOrEqual(1e-5);
      });
    }
  }

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('matMul with transposeA=%s transposeB=%s and its gradients match tfjs-cpu within 1e-5', async (ta, tb) => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const rng = createRng(11);
      const a = tf.tensor3d(rng.normalArray(2 * 6 * 5), ta ? [2, 5, 6] : [2, 6, 5]);
      const b = tf.tensor3d(rng.normalArray(2 * 5 * 7), tb ? [2, 7, 5] : [2, 5, 7]);
      const dy = tf.tensor3d(rng.normalArray(2 * 6 * 7), [2, 6, 7]);
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb), dy));
      const [ga, gb] = tf.grads(f)([a, b]);
      return [await tf.matMul(a, b, ta, tb).data(), await ga!.data(), await gb!.data()] as Float32Array[];
    };
    const ref = await run('cpu');
    const fast = await run('wasm');
    for (let i = 0; i < 3; i++) expect(relativeError(fast[i]!, ref[i]!)).toBeLessThanOrEqual(1e-5);
  });

  it.each([
    [3, 1, 'same'],
    [3, 2, 'same'],
    [3, 1, 1],
    [3, 2, 1],
    [5, 2, 'valid'],
  ] as const)('depthwise conv k%i s%i pad=%s: output, input and filter gradients within 1e-5 of tfjs-cpu', async (k, s, pad) => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const rng = createRng(k * 10 + s);
      const x = tf.tensor4d(rng.normalArray(2 * 9 * 8 * 4), [2, 9, 8, 4]);
      const w = tf.tensor4d(rng.normalArray(k * k * 4), [k, k, 4, 1]);
      const y = tf.depthwiseConv2d(x, w, s, pad);
      const dy = tf.tensor(rng.normalArray(y.size), y.shape);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad), dy)))([x, w]);
      return [await y.data(), await gx!.data(), await gw!.data()] as Float32Array[];
    };
    const ref = await run('cpu');
    const fast = await run('wasm');
    for (let i = 0; i < 3; i++) expect(relativeError(fast[i]!, ref[i]!)).toBeLessThanOrEqual(1e-5);
  });

  it.each([
    [3, 2, 'same'],
    [3, 4, 'same'],
    [3, 2, 2],
    [5, 2, 'valid'],
  ] as const)('dilated conv k%i d%i pad=%s: gradients (tfjs has none) equal finite differences of the forward', async (k, d, pad) => {
    await tf.setBackend('wasm');
    const rng = createRng(k + d);
    const x = tf.tensor4d(rng.normalArray(1 * 12 * 11 * 2), [1, 12, 11, 2]);
    const w = tf.tensor4d(rng.normalArray(k * k * 2 * 3), [k, k, 2, 3]);
    const y = tf.conv2d(x, w, 1, pad, 'NHWC', d);
    const dy = tf.tensor(rng.normalArray(y.size), y.shape);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad, 'NHWC', d), dy));
    const [gx, gw] = tf.grads(f)([x, w]);
    // f is linear in each argument: the finite difference along a random direction is exact up to rounding
    for (const [arg, g] of [[0, gx!], [1, gw!]] as const) {
      const dir = tf.tensor(rng.normalArray(g.size), g.shape);
      const eps = 1e-2;
      const plus = arg === 0 ? f(tf.add(x, tf.mul(dir, eps)), w) : f(x, tf.add(w, tf.mul(dir, eps)));
      const minus = arg === 0 ? f(tf.sub(x, tf.mul(dir, eps)), w) : f(x, tf.sub(w, tf.mul(dir, eps)));
      const numeric = (plus.dataSync()[0]! - minus.dataSync()[0]!) / (2 * eps);
      const analytic = tf.sum(tf.mul(g, dir)).dataSync()[0]!;
      expect(Math.abs(numeric - analytic) / Math.abs(analytic)).toBeLessThan(1e-3);
    }
  });

  it.each([
    [[6, 5, 4, 3], [0, 1, 2], false],
    [[6, 5, 4, 3], [0, 1, 2], true],
    [[40, 7], [0], false],
    [[3, 4, 5], [1, 0], true],
    [[3, 4, 5], [-3], false],
    [[3, 4, 5], [1, 2], false],
    [[3, 4, 5], [0, 1, 2], false],
    [[3, 4, 5], [0, 2], true],
  ] as const)('sum of %j over %j (keepDims %s) and its gradient match tfjs-cpu within 1e-5', async (shape, axes, keepDims) => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const rng = createRng(shape.length + axes.length);
      const x = tf.tensor(rng.normalArray(shape.reduce((a, d) => a * d, 1)), [...shape]);
      const y = tf.sum(x, [...axes], keepDims);
      const dy = tf.tensor(rng.normalArray(y.size), y.shape);
      const [gx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.sum(a, [...axes], keepDims), dy)))([x]);
      return { shape: y.shape, values: [await y.data(), await gx!.data()] as Float32Array[] };
    };
    const ref = await run('cpu');
    const fast = await run('wasm');
    expect(fast.shape).toEqual(ref.shape);
    for (let i = 0; i < 2; i++) expect(relativeError(fast.values[i]!, ref.values[i]!)).toBeLessThanOrEqual(1e-5);
  });

  it('an int32 sum over leading axes stays exact (the original kernel)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    const y = tf.sum(x, 0);
    expect(y.dtype).toBe('int32');
    expect(Array.from(await y.data())).toEqual([9, 12]);
  });

  it('the wasm backend now has a Conv2DBackpropFilter kernel and leaks no tensors', async () => {
    await tf.setBackend('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    const x = tf.randomNormal([1, 8, 8, 2]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 2, 4]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')));
    const out = g([x, w]);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose(out);
    expect(tf.memory().numTensors).toBe(before);
  });
});
