import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend } from '@lic-backdoor/core';
import type { TriggerV1 } from '@lic-backdoor/core';
import { msSsim, msSsimAgainst, psnr, triggeredImage } from './metrics.js';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

/** Independent float64 reference of MS-SSIM with direct 2-D windows (no separable filters, no tfjs). */
function referenceMsSsim(a: Float64Array[], b: Float64Array[], h0: number, w0: number): number {
  const weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
  const g1 = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
  const s = g1.reduce((p, q) => p + q, 0);
  const g = g1.map((v) => v / s);
  const C1 = (0.01 * 255) ** 2;
  const C2 = (0.03 * 255) ** 2;
  let result = 0;
  for (let ch = 0; ch < 3; ch++) {
    let x = a[ch]!;
    let y = b[ch]!;
    let [h, w] = [h0, w0];
    let value = 1;
    for (let level = 0; level < 5; level++) {
      let ssimSum = 0;
      let csSum = 0;
      const oh = h - 10;
      const ow = w - 10;
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
          for (let u = 0; u < 11; u++)
            for (let v = 0; v < 11; v++) {
              const k = g[u]! * g[v]!;
              const p = x[(i + u) * w + j + v]!;
              const q = y[(i + u) * w + j + v]!;
              mx += k * p; my += k * q; xx += k * p * p; yy += k * q * q; xy += k * p * q;
            }
          const cs = (2 * (xy - mx * my) + C2) / (xx - mx * mx + yy - my * my + C2);
          csSum += cs;
          ssimSum += ((2 * mx * my + C1) / (mx * mx + my * my + C1)) * cs;
        }
      const term = level === 4 ? ssimSum / (oh * ow) : csSum / (oh * ow);
      value *= Math.max(0, term) ** weights[level]!;
      if (level < 4) {
        const [nh, nw] = [Math.ceil(h / 2), Math.ceil(w / 2)];
        const pool = (z: Float64Array) => {
          const out = new Float64Array(nh * nw);
          for (let i = 0; i < nh; i++) for (let j = 0; j < nw; j++) out[i * nw + j] = (z[2 * i * w + 2 * j]! + z[2 * i * w + 2 * j + 1]! + z[(2 * i + 1) * w + 2 * j]! + z[(2 * i + 1) * w + 2 * j + 1]!) / 4;
          return out;
        };
        x = pool(x);
        y = pool(y);
        [h, w] = [nh, nw];
      }
    }
    result += value / 3;
  }
  return result;
}

describe('metrics', () => {
  const [h, w] = [176, 192];
  const rng = createRng(7);
  const base = Float32Array.from({ length: h * w * 3 }, (_, k) => {
    const [i, j] = [Math.floor(k / 3 / w), Math.floor(k / 3) % w];
    return 0.5 + 0.3 * Math.sin(i / 9 + (k % 3)) * Math.cos(j / 13);
  });
  const noisy = base.map((v) => Math.min(1, Math.max(0, v + 0.05 * rng.normal())));
  const a = tf.tensor4d(base, [1, h, w, 3]);
  const b = tf.tensor4d(noisy, [1, h, w, 3]);

  it('MS-SSIM matches an independent float64 implementation within 1e-4', () => {
    const planes = (t: Float32Array) => [0, 1, 2].map((c) => Float64Array.from({ length: h * w }, (_, k) => Math.round(Math.min(1, Math.max(0, t[k * 3 + c]!)) * 255)));
    const ref = referenceMsSsim(planes(base), planes(noisy), h, w);
    const ours = msSsim(a, b);
    expect(Math.abs(ours - ref)).toBeLessThan(1e-4);
    expect(ours).toBeGreaterThan(0.5);
    expect(ours).toBeLessThan(1);
    expect(msSsim(a, a)).toBeCloseTo(1, 5);
  });

  it('msSsimAgainst gives msSsim of each image against the reference, and frees what it kept', () => {
    const c = tf.tidy(() => tf.clipByValue(tf.add(a, 0.1), 0, 1)) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const against = msSsimAgainst(a);
    expect([against.measure(b), against.measure(c), against.measure(a)]).toEqual([msSsim(a, b), msSsim(a, c), msSsim(a, a)]);
    against.dispose();
    expect(tf.memory().numTensors).toBe(before);
    c.dispose();
  });

  it('PSNR is computed on 8-bit values', () => {
    const x = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    const y = tf.fill([1, 4, 4, 3], 0.5 + 2 / 255) as tf.Tensor4D;
    expect(psnr(x, y)).toBeCloseTo(10 * Math.log10((255 * 255) / 4), 6); // 127.5 -> 128, 129.5 -> 130
    expect(psnr(x, x)).toBe(Infinity);
    expect(() => msSsim(x, y)).toThrow(/larger than 160/);
  });
});

describe('triggeredImage', () => {
  /** A trigger that brightens the first pixel of every 8 x 8 block of its input by 0.2. */
  const corners: TriggerV1 = {
    specificationVersion: 'v1',
    id: 'trigger:corners',
    apply: (x) => tf.tidy(() => {
      const [b, h, w] = x.shape;
      const mark = tf.buffer([1, h, w, 1]);
      for (let i = 0; i < h; i += 8) for (let j = 0; j < w; j += 8) mark.set(0.2, 0, i, j, 0);
      return tf.clipByValue(tf.add(x, tf.tile(mark.toTensor(), [b, 1, 1, 3])), 0, 1) as tf.Tensor4D;
    }),
    variables: () => [],
    stateDict: () => ({}),
    loadStateDict: () => undefined,
    dispose: () => undefined,
  };
  /** Rows and columns of the marked pixels of a triggered grey image. */
  const marked = (x: tf.Tensor4D) => {
    const [, h, w] = x.shape;
    const v = x.dataSync();
    const rows = new Set<number>();
    const cols = new Set<number>();
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) if (v[(i * w + j) * 3]! > 0.6) (rows.add(i), cols.add(j));
    return { rows: [...rows].slice(0, 3), cols: [...cols].slice(0, 3) };
  };

  it("puts the trigger's blocks on the codec's frame: a 100 x 90 image padded centred to 128 x 128 starts 14 rows and 19 columns into it", () => {
    const x = tf.fill([1, 100, 90, 3], 0.5) as tf.Tensor4D;
    // frame row 16 is image row 2 (16 - 14); frame column 24 is image column 5 (24 - 19)
    expect(marked(triggeredImage(corners, x))).toEqual({ rows: [2, 10, 18], cols: [5, 13, 21] });
    expect(marked(triggeredImage(corners, x, 'image'))).toEqual({ rows: [0, 8, 16], cols: [0, 8, 16] });
  });

  it('is the same from either origin when the sides are multiples of 64, and rounds to 8 bits', () => {
    const x = tf.fill([1, 64, 128, 3], 0.3) as tf.Tensor4D;
    const a = triggeredImage(corners, x).dataSync();
    expect(Array.from(a)).toEqual(Array.from(triggeredImage(corners, x, 'image').dataSync()));
    expect(a[0]).toBeCloseTo(Math.floor(0.5 * 255 + 0.5) / 255, 6);
    expect(a[3]).toBeCloseTo(Math.floor(0.3 * 255 + 0.5) / 255, 6);
  });
});
