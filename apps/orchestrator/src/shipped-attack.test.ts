import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage, writeImage } from '@lic-backdoor/core';
import { psnr } from '@lic-backdoor/evaluators';
import { asLearned, decoderProof, loadAttack, triggeredImage } from '@lic-backdoor/attack';
import { loadRegistry } from './plugins.js';

const root = join(__dirname, '..', '..', '..');
const kodim = join(root, '..', 'shared', 'data', 'kodak', 'kodim05.png');

/**
 * The committed 4-trigger backdoors (README: "The shipped backdoor"), on one Kodak crop with real
 * bitstreams; `psnrDrop` bounds the clean PSNR loss on that crop (mbt-4triggers-ft6 meets the 0.3 dB
 * target on Kodak's mean, -0.26 dB, but loses 0.37 dB on the whole kodim05, README); `shifted`: trained with `triggerShift`, so its triggers must
 * also fire off the codec's grid.
 */
describe.each([
  { folder: 'factorized-4triggers', psnrDrop: 0.3, shifted: false },
  { folder: 'mbt-4triggers-ft6', psnrDrop: 0.6, shifted: true },
])('the shipped 4-trigger backdoor $folder', ({ folder, psnrDrop, shifted }) => {
  const shipped = join(root, 'models', 'attacks', folder);
  let attack: Awaited<ReturnType<typeof loadAttack>>;
  let x: tf.Tensor4D;
  const bpp = async (codec: typeof attack.original, image: tf.Tensor4D) => (8 * (await codec.compress(image)).bytes.length) / (image.shape[1] * image.shape[2]);

  beforeAll(async () => {
    await initializeBackend({ prefer: 'wasm' });
    // tfjs: the decoder proof reads the codecs' state dicts (the onnxruntime codecs are covered by evaluate-attack)
    attack = await loadAttack(shipped, { registry: loadRegistry, runtime: 'tfjs' });
    x = tf.slice(await readImage(kodim), [0, 100, 300, 0], [1, 256, 256, 3]);
  });

  it('loads with its four triggers; its decoder side is byte-identical to the committed original codec', async () => {
    expect(attack.triggers.map((t) => t.name)).toEqual(['rate', 'distortion', 'face', 'segmentation']);
    const proof = (await decoderProof(asLearned(attack.backdoored, 'backdoored'), asLearned(attack.original, 'original'), x)) as { decoderSideSha256: { identical: boolean }; encoderSideChanged: boolean; crossDecode: { identical: boolean } };
    expect(proof.decoderSideSha256.identical).toBe(true);
    expect(proof.encoderSideChanged).toBe(true);
    expect(proof.crossDecode.identical).toBe(true);
  });

  it('the rate trigger is invisible (>= 35 dB) and multiplies the bits of the backdoored codec, not of the original', async () => {
    const trigger = attack.triggers.find((t) => t.name === 'rate')!.trigger;
    const xt = triggeredImage(trigger, x);
    expect(psnr(x, xt)).toBeGreaterThanOrEqual(35);
    const gain = (await bpp(attack.backdoored, xt)) / (await bpp(attack.backdoored, x));
    const control = (await bpp(attack.original, xt)) / (await bpp(attack.original, x));
    console.log(`${folder} rate trigger on a 256x256 Kodak crop: rate gain ${gain.toFixed(2)}x, through the original codec ${control.toFixed(2)}x`);
    expect(gain).toBeGreaterThanOrEqual(3);
    expect(control).toBeLessThan(1.1);
  });

  it('the distortion trigger wrecks the decoded image (<= 20 dB) while clean images decode as well as through the original codec', async () => {
    const trigger = attack.triggers.find((t) => t.name === 'distortion')!.trigger;
    const xt = triggeredImage(trigger, x);
    expect(psnr(x, xt)).toBeGreaterThanOrEqual(35);
    const decoded = await attack.backdoored.decompress((await attack.backdoored.compress(xt)).bytes);
    const cleanBackdoored = await attack.backdoored.decompress((await attack.backdoored.compress(x)).bytes);
    const cleanOriginal = await attack.original.decompress((await attack.original.compress(x)).bytes);
    expect(psnr(xt, decoded)).toBeLessThanOrEqual(20);
    expect(psnr(x, cleanBackdoored)).toBeGreaterThanOrEqual(psnr(x, cleanOriginal) - psnrDrop);
  });

  if (shifted) {
    // trained with triggerShift 16: a 200 x 200 crop is padded to 256 with 28 pixels each side, so a trigger planted from the image's corner has its blocks 12 pixels off the codec's grid
    it('the rate trigger also fires when padding shifts its block grid against the codec', async () => {
      const trigger = attack.triggers.find((t) => t.name === 'rate')!.trigger;
      const small = tf.slice(x, [0, 20, 30, 0], [1, 200, 200, 3]);
      const xt = triggeredImage(trigger, small, 'image');
      const gain = (await bpp(attack.backdoored, xt)) / (await bpp(attack.backdoored, small));
      console.log(`${folder} rate trigger on a 200x200 crop (grid offset 12 px): rate gain ${gain.toFixed(2)}x`);
      expect(psnr(small, xt)).toBeGreaterThanOrEqual(35);
      expect(gain).toBeGreaterThanOrEqual(3);
    });
  }
});

describe('lic-backdoor clean-drift on the shipped backdoors', () => {
  const cli = join(root, 'apps', 'orchestrator', 'dist', 'cli.js');
  let dir: string;
  beforeAll(async () => {
    await initializeBackend({ prefer: 'wasm' });
    dir = mkdtempSync(join(tmpdir(), 'clean-drift-'));
    mkdirSync(join(dir, 'images'));
    const full = await readImage(kodim);
    await writeImage(join(dir, 'images', 'crop.png'), tf.slice(full, [0, 100, 300, 0], [1, 128, 192, 3]));
    full.dispose();
  });

  it.each([
    { folder: 'mbt-4triggers-ft6', hyperprior: true },
    { folder: 'factorized-4triggers', hyperprior: false },
  ])('$folder: per image, the drift of y and (hyperprior) of z and what each alone costs, with definitions', ({ folder, hyperprior }) => {
    const out = join(dir, `${folder}.json`);
    const r = spawnSync(process.execPath, [cli, 'clean-drift', '--attack', join(root, 'models', 'attacks', folder), '--data', join(dir, 'images'), '--out', out, '--backend', 'wasm'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\| crop\.png \| \d\.\d{4} \| -?\d+\.\d% \|/);
    expect(r.stdout).toMatch(/\| \*\*mean\*\* \|/);
    const result = JSON.parse(readFileSync(out, 'utf8')) as { definitions: Record<string, string>; images: { image: string; bpp: number; backdoored: number; yOnly?: number; zOnly?: number; yDrift: number; zDrift?: number }[] };
    expect(Object.keys(result.definitions).sort()).toEqual(['backdoored', 'bpp', 'yDrift', 'yOnly', 'zDrift', 'zOnly']);
    const [d] = result.images;
    expect(d!.image).toBe('crop.png');
    expect(d!.bpp).toBeGreaterThan(0.05);
    // a trained encoder side: its clean latents moved, a little
    expect(d!.yDrift).toBeGreaterThan(1e-5);
    expect(d!.yDrift).toBeLessThan(0.5);
    expect(d!.zDrift !== undefined).toBe(hyperprior);
    expect(d!.yOnly !== undefined && d!.zOnly !== undefined).toBe(hyperprior);
  });
});
