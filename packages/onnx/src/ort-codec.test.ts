import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage, tensorToRgb } from '@lic-backdoor/core';
import { FactorizedCodec, FactorizedPrior, HyperpriorCodec, HyperpriorModel } from '@lic-backdoor/codecs';
import { OrtFactorizedCodec, OrtHyperpriorCodec } from './ort-codec.js';

const kodim = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'kodak', 'kodim07.png');

describe('the factorized codec through onnxruntime-node', () => {
  it('writes the same bytes as the tfjs path, and each path decodes the other within one 8-bit level', async () => {
    await initializeBackend({ prefer: 'wasm' });
    const base = new FactorizedCodec('codec:bmshj2018-factorized', new FactorizedPrior(8, 12, 11));
    base.update();
    const ort = await OrtFactorizedCodec.create(base, 1);
    const x = tf.slice(await readImage(kodim), [0, 100, 100, 0], [1, 150, 200, 3]);
    const a = await base.compress(x);
    const b = await ort.compress(x);
    expect(Buffer.from(b.bytes).equals(Buffer.from(a.bytes))).toBe(true);
    const viaTfjs = await tensorToRgb(await base.decompress(b.bytes));
    const viaOrt = await tensorToRgb(await ort.decompress(a.bytes));
    let maxDiff = 0;
    for (let i = 0; i < viaTfjs.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(viaTfjs.data[i]! - viaOrt.data[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);
  });
});

describe.each([
  ['bmshj2018-hyperprior', 'scale'],
  ['mbt2018-mean', 'mean-scale'],
] as const)('%s through onnxruntime-node (exported encoder and decoder graphs)', (name, variant) => {
  it('streams written by either path decode with the other: the same bytes, images within one 8-bit level', async () => {
    await initializeBackend({ prefer: 'wasm' });
    const base = new HyperpriorCodec(`codec:${name}`, new HyperpriorModel(variant, 8, 12, 5));
    base.update();
    const ort = await OrtHyperpriorCodec.create(base, 1);
    const x = tf.slice(await readImage(kodim), [0, 60, 40, 0], [1, 140, 190, 3]);
    const a = await base.compress(x);
    const b = await ort.compress(x);
    expect(Buffer.from(b.bytes).equals(Buffer.from(a.bytes))).toBe(true);
    const viaTfjs = await tensorToRgb(await base.decompress(b.bytes));
    const viaOrt = await tensorToRgb(await ort.decompress(a.bytes));
    let maxDiff = 0;
    let differing = 0;
    for (let i = 0; i < viaTfjs.data.length; i++) {
      const d = Math.abs(viaTfjs.data[i]! - viaOrt.data[i]!);
      maxDiff = Math.max(maxDiff, d);
      if (d) differing++;
    }
    console.log(`${name}: ${differing} of ${viaTfjs.data.length} 8-bit values differ between the paths, by at most ${maxDiff}`);
    expect(maxDiff).toBeLessThanOrEqual(1);
  });
});
