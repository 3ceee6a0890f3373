import { basename, resolve } from 'node:path';
import { cleanDrift, createBackdooredCodec, createCodec, readAttackFolder, type CleanDrift } from '@lic-backdoor/attack';
import { initializeBackend, listImages, readImage, writeFileAtomic, type BackendName } from '@lic-backdoor/core';
import { mean } from '@lic-backdoor/objectives';
import { Progress } from '@lic-backdoor/training';
import { loadRegistry } from '../plugins.js';

const pct = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)}%`;

/**
 * `lic-backdoor clean-drift --attack DIR --data DIR [--limit N] [--out FILE]`: where the backdoored
 * encoder's extra clean bits come from, per image (`cleanDrift`): the whole change, the drift of y
 * alone, the drift of z alone (hyperprior models), and each latent's drift relative to its variance.
 */
export async function cleanDriftCommand(o: { attack: string; data: string; limit?: number; out?: string; backend?: BackendName }): Promise<void> {
  const backend = await initializeBackend({ prefer: o.backend });
  const { config, registry } = await readAttackFolder(resolve(o.attack), loadRegistry);
  const original = await createCodec(registry, config);
  const backdoored = await createBackdooredCodec(registry, config, resolve(o.attack));
  const files = (await listImages(resolve(o.data))).slice(0, o.limit);
  const progress = new Progress('clean-drift', files.length, 1);
  const images: (CleanDrift & { image: string })[] = [];
  const rows: string[] = ['| image | bpp original | backdoored | y drift alone | z drift alone | y drift / Var(y) | z drift / Var(z) |', '| --- | --- | --- | --- | --- | --- | --- |'];
  const row = (name: string, d: CleanDrift) =>
    `| ${name} | ${d.bpp.toFixed(4)} | ${pct(d.backdoored, d.bpp)} | ${d.yOnly === undefined ? '' : pct(d.yOnly, d.bpp)} | ${d.zOnly === undefined ? '' : pct(d.zOnly, d.bpp)} | ${d.yDrift.toExponential(2)} | ${d.zDrift?.toExponential(2) ?? ''} |`;
  try {
    for (const file of files) {
      const x = await readImage(file);
      let d: CleanDrift & { image: string };
      try {
        d = { image: basename(file), ...cleanDrift(original, backdoored, x) };
      } catch (cause) {
        // WebAssembly.RuntimeError: the tfjs wasm heap gave out on a large image
        if (!(cause instanceof Error) || cause.name !== 'RuntimeError') throw cause;
        throw new Error(`${file} (${x.shape[2]} x ${x.shape[1]}): the tfjs wasm heap gave out (${cause.message}); crop or downscale it`, { cause });
      }
      x.dispose();
      images.push(d);
      rows.push(row(d.image, d));
      progress.update(images.length, `${d.image}: ${pct(d.backdoored, d.bpp)}`);
    }
  } finally {
    progress.done();
    original.dispose?.();
    backdoored.dispose?.();
  }
  if (!images.length) throw new Error(`${o.data} holds no images`);
  const optional = (k: 'yOnly' | 'zOnly' | 'zDrift') => (images.every((i) => i[k] !== undefined) ? mean(images.map((i) => i[k]!)) : undefined);
  const average: CleanDrift = { bpp: mean(images.map((i) => i.bpp)), backdoored: mean(images.map((i) => i.backdoored)), yOnly: optional('yOnly'), zOnly: optional('zOnly'), yDrift: mean(images.map((i) => i.yDrift)), zDrift: optional('zDrift') };
  rows.push(row('**mean**', average));
  console.log(rows.join('\n'));
  if (o.out) {
    const definitions = {
      bpp: "estimated bits per pixel (y and z) of the original codec, -log2 of the rounded latents' likelihoods",
      backdoored: 'the same through the backdoored encoder (y and z its own)',
      yOnly: "the backdoored encoder's y with the original h_a's z: what the drift of y alone costs",
      zOnly: "the original encoder's y coded with the backdoored encoder's z (its scales and means): what the drift of z alone costs",
      yDrift: 'MSE(y_backdoored - y_original) / Var(y_original)',
      zDrift: 'MSE(z_backdoored - z_original) / Var(z_original)',
    };
    await writeFileAtomic(resolve(o.out), `${JSON.stringify({ attack: resolve(o.attack), data: resolve(o.data), backend: backend.backend, definitions, mean: average, images }, null, 2)}\n`);
  }
}
