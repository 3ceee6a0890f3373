import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage, tensorToRgb, type CodecV1 } from '@lic-backdoor/core';
import { FactorizedCodec, FactorizedPrior, HyperpriorCodec, HyperpriorModel, type HyperpriorOnnxCoding } from '@lic-backdoor/codecs';
import { OrtCodec, ortCodec } from './ort-codec.js';

/** The fixed-point h_s of a hyperprior codec run by onnxruntime. */
const hyperOf = (codec: OrtCodec) => (z: Int32Array, h: number, w: number) => (codec.coding as HyperpriorOnnxCoding).hyper(codec.graphRunner(), z, h, w);

const kodim = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'kodak', 'kodim07.png');

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

/** Both paths compress a Kodak crop; every stream decodes through both paths. */
async function crossPath(tfjs: CodecV1, ort: CodecV1, at: [number, number]) {
  const x = tf.slice(await readImage(kodim), [0, ...at, 0], [1, 140, 190, 3]);
  const [a, b] = [await tfjs.compress(x), await ort.compress(x)];
  // the rate estimates agree (onnxruntime's uses the fixed-point h_s's scales)
  expect(Math.abs(b.bppEstimated! / a.bppEstimated! - 1)).toBeLessThan(1e-3);
  let differing = 0;
  for (const stream of [a.bytes, b.bytes]) {
    const viaTfjs = await tensorToRgb(await tfjs.decompress(stream));
    const viaOrt = await tensorToRgb(await ort.decompress(stream));
    for (let i = 0; i < viaTfjs.data.length; i++) if (viaTfjs.data[i] !== viaOrt.data[i]) differing++;
  }
  console.log(`${tfjs.id}: ${differing} 8-bit values differ between the two decoders`);
  return { sameBytes: Buffer.from(a.bytes).equals(Buffer.from(b.bytes)), differing };
}

describe('learned codecs through onnxruntime-node (exported encoder and decoder graphs)', () => {
  it('bmshj2018-factorized: the same bytes as the tfjs path; both decoders give the identical 8-bit image', async () => {
    const base = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 11));
    base.update();
    const r = await crossPath(base, await ortCodec(base, 1), [100, 100]);
    expect(r.sameBytes).toBe(true);
    expect(r.differing).toBe(0);
  });

  it.each([
    ['bmshj2018-hyperprior', 'scale'],
    ['mbt2018-mean', 'mean-scale'],
  ] as const)('%s: the same bytes as the tfjs path; both decoders give the identical 8-bit image', async (name, variant) => {
    const base = new HyperpriorCodec(`codec:${name}`, new HyperpriorModel(variant, 8, 12, 5));
    base.update();
    const r = await crossPath(base, await ortCodec(base, 1), [60, 40]);
    expect(r.sameBytes).toBe(true);
    expect(r.differing).toBe(0);
  });
});

describe('the fixed-point h_s in onnxruntime', () => {
  it('equals FixedPointHyperSynthesis.run in range and falls back to it beyond 2^31 (z_hat of 32768 and more)', async () => {
    const base = new HyperpriorCodec('codec:mbt2018-mean', new HyperpriorModel('mean-scale', 8, 12, 5));
    base.update();
    const codec = await OrtCodec.create(base, 1);
    const hyper = hyperOf(codec);
    const fp = base.fixedPointHyperSynthesis();
    for (const spread of [50, 400, 40000]) {
      const z = Int32Array.from({ length: 8 * 3 * 5 }, (_, i) => ((i * 31) % (2 * spread + 1)) - spread);
      const [ours, reference] = [await hyper(z, 3, 5), fp.run(z, 3, 5)];
      expect(Array.from(ours.scales).filter((v, i) => v !== reference.scales[i]).length).toBe(0);
      expect(Array.from(ours.means!).filter((v, i) => v !== reference.means![i]).length).toBe(0);
    }
    codec.dispose();
  });
});

describe('tiled transforms (large images)', () => {
  it.each([
    ['bmshj2018-factorized', () => new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 11))],
    ['mbt2018-mean', () => new HyperpriorCodec('codec:mbt2018-mean', new HyperpriorModel('mean-scale', 8, 12, 5))],
  ] as const)('%s: g_s on 3x3 tiles of 4 latents decodes the identical image; tiled g_a writes a stream of about the same size', async (_, make) => {
    const base = make();
    base.update();
    const [whole, tiles] = [await ortCodec(base, 1), await ortCodec(base, 1, 4)];
    const x = tf.slice(await readImage(kodim), [0, 50, 60, 0], [1, 180, 170, 3]);
    const [a, b] = [await whole.compress(x), await tiles.compress(x)];
    expect(Math.abs(b.bytes.length - a.bytes.length)).toBeLessThanOrEqual(Math.ceil(a.bytes.length / 200));
    for (const stream of [a.bytes, b.bytes]) {
      const [p, q] = [await tensorToRgb(await whole.decompress(stream)), await tensorToRgb(await tiles.decompress(stream))];
      expect(p.data.length).toBe(180 * 170 * 3);
      expect(Buffer.from(p.data).equals(Buffer.from(q.data))).toBe(true);
    }
  });

  it('mbt2018-mean: the fixed-point h_s on tiles of 2 z latents (halo included, 90 tiles) gives the numbers of the untiled JS reference', async () => {
    const base = new HyperpriorCodec('codec:mbt2018-mean', new HyperpriorModel('mean-scale', 8, 12, 5));
    base.update();
    const hyper = hyperOf(await OrtCodec.create(base, 1, 8));
    const [zh, zw] = [20, 18];
    const z = Int32Array.from({ length: 8 * zh * zw }, (_, i) => ((i * 7919) % 13) - 6);
    const [got, want] = [await hyper(z, zh, zw), base.fixedPointHyperSynthesis().run(z, zh, zw)];
    expect(got.scales.length).toBe(12 * 4 * zh * 4 * zw);
    expect(Buffer.from(got.scales.buffer, got.scales.byteOffset, got.scales.byteLength).equals(Buffer.from(want.scales.buffer, want.scales.byteOffset, want.scales.byteLength))).toBe(true);
    expect(Array.from(got.means!)).toEqual(Array.from(want.means!));
  });
});
