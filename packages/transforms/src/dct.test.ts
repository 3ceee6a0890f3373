import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRng } from '@lic-backdoor/core';
import { blockDct, blockIdct, type DctNormalization } from './dct.js';

beforeAll(() => tf.setBackend('cpu'));

/** Direct O(n^4) 2-D DCT-II of one n x n block, in float64. */
function referenceDct(block: number[][], n: number, normalization: DctNormalization): number[][] {
  const c = (k: number) => (normalization === 'orthonormal' ? Math.sqrt((k === 0 ? 1 : 2) / n) : 1);
  const out: number[][] = [];
  for (let u = 0; u < n; u++) {
    out.push([]);
    for (let v = 0; v < n; v++) {
      let s = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++)
          s += block[i]![j]! * Math.cos((Math.PI * (2 * i + 1) * u) / (2 * n)) * Math.cos((Math.PI * (2 * j + 1) * v) / (2 * n));
      out[u]!.push(c(u) * c(v) * s);
    }
  }
  return out;
}

describe.each([8, 16])('block DCT, n = %i', (n) => {
  const rng = createRng(n);
  const [b, h, w, ch] = [2, 2 * n, 3 * n, 3];
  const values = rng.uniformArray(b * h * w * ch, -128, 128);
  const x = () => tf.tensor4d(values, [b, h, w, ch]);

  it.each(['orthonormal', 'unnormalized'] as const)('matches the direct O(n^4) DCT-II (%s) within 1e-5 relative', (normalization) => {
    const coeffs = blockDct(x(), n, normalization).arraySync();
    let maxErr = 0;
    let maxRef = 0;
    for (const [bi, by, bx, c] of [[0, 0, 0, 0], [1, 1, 2, 2], [0, 1, 1, 1]] as const) {
      const block = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => values[((bi * h + by * n + i) * w + bx * n + j) * ch + c]!));
      const ref = referenceDct(block, n, normalization);
      for (let u = 0; u < n; u++)
        for (let v = 0; v < n; v++) {
          maxErr = Math.max(maxErr, Math.abs(coeffs[bi]![by]![bx]![u * n + v]![c]! - ref[u]![v]!));
          maxRef = Math.max(maxRef, Math.abs(ref[u]![v]!));
        }
    }
    expect(maxErr / maxRef).toBeLessThanOrEqual(1e-5);
  });

  it.each(['orthonormal', 'unnormalized'] as const)('inverse(forward(x)) = x within 1e-5 relative (%s)', (normalization) => {
    const back = blockIdct(blockDct(x(), n, normalization), n, normalization);
    expect(back.shape).toEqual([b, h, w, ch]);
    const err = tf.max(tf.abs(tf.sub(back, x()))).arraySync() as number;
    expect(err / 128).toBeLessThanOrEqual(1e-5);
  });

  it('the orthonormal version preserves energy', () => {
    const e1 = tf.sum(tf.square(x())).arraySync() as number;
    const e2 = tf.sum(tf.square(blockDct(x(), n))).arraySync() as number;
    expect(Math.abs(e2 - e1) / e1).toBeLessThan(1e-5);
  });

  it('a constant block has only a DC coefficient, n x value (orthonormal)', () => {
    const coeffs = blockDct(tf.fill([1, n, n, 1], 2), n).dataSync();
    expect(coeffs[0]).toBeCloseTo(2 * n, 4);
    expect(Math.max(...Array.from(coeffs.slice(1), Math.abs))).toBeLessThan(1e-4);
  });

  it('gradients flow through the transform (d/dx sum(DCT(x)^2) = 2x for orthonormal)', () => {
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(blockDct(t, n))))(x());
    expect(tf.max(tf.abs(tf.sub(g, tf.mul(x(), 2)))).arraySync()).toBeLessThan(1e-2);
  });
});

it('rejects images that are not a multiple of the block size', () => {
  expect(() => blockDct(tf.zeros([1, 20, 16, 3]), 16)).toThrow(/20x16 is not a multiple of the block size 16/);
});
