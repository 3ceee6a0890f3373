import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { listImages, readImage, writeImage } from '@lic-backdoor/core';
import { ClassicalCodec } from '@lic-backdoor/codecs';
import { psnr } from '@lic-backdoor/evaluators';
import { blockDct, rgbToYcbcr } from '@lic-backdoor/transforms';
import { effectMatrixHtml, loadAttack, triggeredImage, type AttackResults } from '@lic-backdoor/attack';
import { loadRegistry } from '../plugins.js';
import { dctEnergySpec, lossCurveSpec, rdSpec, renderVegaLite, writeFigure } from './figures.js';
import { readLog } from './log.js';

/** One attack variant of a run (for the baselines and weighting tables). */
export interface VariantResults {
  name: string;
  description: string;
  results: AttackResults;
  /** Steps at which each term of the attack log first reached 0 (met), by term. */
  stepsToTarget: Record<string, number | null>;
}

/** A backdoor made elsewhere (e.g. a shipped one), measured on the run's images. */
export interface BackdoorResults {
  name: string;
  description: string;
  results: AttackResults;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const f = (v: number | undefined, d = 2) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '–');

/** Mean squared change of each DCT coefficient position of the Y channel, over all blocks. */
function dctEnergy(x: tf.Tensor4D, xt: tf.Tensor4D, n: number): Float64Array {
  const energy = tf.tidy(() => {
    const [, h, w] = x.shape;
    const crop = (t: tf.Tensor4D) => tf.slice(t, [0, 0, 0, 0], [1, h - (h % n), w - (w % n), 3]);
    const d = tf.sub(blockDct(rgbToYcbcr(crop(xt)), n), blockDct(rgbToYcbcr(crop(x)), n));
    const y = tf.slice(d, [0, 0, 0, 0, 0], [-1, -1, -1, -1, 1]);
    return tf.mean(tf.reshape(tf.square(y), [-1, n * n]), 0);
  });
  const out = Float64Array.from(energy.dataSync());
  energy.dispose();
  return out;
}

/**
 * Writes `report.html` (self-contained: figures embedded) and its figures under `figures/`: for
 * each trigger the grid (original, triggered, |difference| x 10, decoded clean, decoded
 * triggered) and its DCT energy map; the RD plot (original and backdoored codec on clean and
 * triggered images, JPEG and WebP); the results table; variant tables; loss curves.
 */
export async function writeReport(o: { dir: string; attackDir: string; results: AttackResults; data: string; images: number; variants?: VariantResults[]; backdoors?: BackdoorResults[]; title: string }): Promise<string> {
  const figures = join(o.dir, 'figures');
  const embedded: Record<string, string> = {};
  const embed = async (file: string, mime: string) => (embedded[file] = `data:${mime};base64,${(await readFile(file)).toString('base64')}`);
  const { original, backdoored, triggers } = await loadAttack(o.attackDir, { registry: loadRegistry });
  const files = (await listImages(o.data)).filter((f) => o.results.per_image.some((c) => c.image === basename(f)));
  const sample = await readImage(files[0]!);
  const decodedClean = await backdoored.decompress((await backdoored.compress(sample)).bytes);
  const sections: string[] = [];
  for (const { name, trigger } of triggers) {
    const xt = triggeredImage(trigger, sample);
    const decodedTriggered = await backdoored.decompress((await backdoored.compress(xt)).bytes);
    const diff = tf.tidy(() => tf.clipByValue(tf.mul(tf.abs(tf.sub(xt, sample)), 10), 0, 1));
    const panels: [string, tf.Tensor][] = [
      ['original', sample],
      ['triggered', xt],
      ['difference', diff],
      ['decoded-clean', decodedClean],
      ['decoded-triggered', decodedTriggered],
    ];
    const cells: string[] = [];
    for (const [label, t] of panels) {
      const file = join(figures, name, `${label}.png`);
      await writeImage(file, t);
      cells.push(`<figure><img src="${await embed(file, 'image/png')}" alt="${label}"><figcaption>${label.replace('-', ' ')}${label === 'difference' ? ' x 10' : ''}</figcaption></figure>`);
    }
    const energy = await renderVegaLite(dctEnergySpec(dctEnergy(sample, xt, 16), 16, `${name}: DCT energy of the trigger (Y, 16x16 blocks)`));
    await writeFigure(join(figures, `${name}-dct-energy`), energy);
    const r = o.results.triggers[name]!;
    sections.push(`<section><h2>Trigger <code>${esc(name)}</code> (${esc(r.objectives.join(', '))})</h2>
<p>${esc(basename(files[0]!))}: stealth PSNR ${f(psnr(sample, xt))} dB; decoded triggered PSNR ${f(psnr(xt, decodedTriggered))} dB.</p>
<div class="grid">${cells.join('')}</div>
<img class="plot" src="${await embed(`${join(figures, `${name}-dct-energy`)}.png`, 'image/png')}" alt="${esc(name)} DCT energy"></section>`);
    tf.dispose([xt, decodedTriggered, diff]);
  }

  const points: { series: string; bpp: number; psnr: number }[] = [
    { series: 'original codec, clean', bpp: o.results.clean.original.bpp!, psnr: o.results.clean.original.psnr! },
    { series: 'backdoored codec, clean', bpp: o.results.clean.backdoored.bpp!, psnr: o.results.clean.backdoored.psnr! },
    ...Object.entries(o.results.triggers).map(([name, t]) => ({ series: `backdoored codec, trigger ${name}`, bpp: t.bpp, psnr: t.decoded_psnr })),
  ];
  for (const format of ['jpeg', 'webp'] as const) {
    for (const quality of [5, 10, 20, 35, 50, 75]) {
      const codec = new ClassicalCodec(`codec:${format}`, format, quality);
      let [bits, sum] = [0, 0];
      for (const file of files.slice(0, o.images)) {
        const x = await readImage(file);
        const e = await codec.compress(x);
        const y = await codec.decompress(e.bytes);
        bits += (8 * e.bytes.length) / (e.height * e.width);
        sum += psnr(x, y);
        tf.dispose([x, y]);
      }
      const n = Math.min(files.length, o.images);
      points.push({ series: format.toUpperCase(), bpp: bits / n, psnr: sum / n });
    }
  }
  await writeFigure(join(figures, 'rd'), await renderVegaLite(rdSpec(points)));
  const log = await readLog(join(o.attackDir, 'log.ndjson'));
  await writeFigure(join(figures, 'loss-curves'), await renderVegaLite(lossCurveSpec(log, `${o.title}: loss terms`)));

  const table = effectMatrixHtml(o.results.effects, esc, columnDefinitions(o.results.definitions));
  const controls = Object.entries(o.results.triggers)
    .map(([n, t]) => `<li>trigger <b>${esc(n)}</b> through the original codec (control): rate gain ${f(t.original_codec_rate_gain)}${Object.entries(t).filter(([k]) => k.startsWith('control_')).map(([k, v]) => `, ${esc(k)} ${f(v as number, 3)}`).join('')}</li>`)
    .join('');
  const variants = o.variants?.length
    ? `<section><h2>Variants (same data, seeds and schedule)</h2><table><tr><th>variant</th><th>trigger</th><th>stealth PSNR dB</th><th>rate gain</th><th>decoded PSNR dB</th><th>clean bpp change</th><th>clean PSNR change dB</th><th>steps to each target</th></tr>
${o.variants
  .flatMap((v) =>
    Object.entries(v.results.triggers).map(
      ([n, t]) =>
        `<tr><td>${esc(v.name)}</td><td>${esc(n)}</td><td>${f(t.stealth_psnr)}</td><td>${f(t.rate_gain)}</td><td>${f(t.decoded_psnr)}</td><td>${f(100 * (v.results.clean.backdoored.bpp! / v.results.clean.original.bpp! - 1), 1)}%</td><td>${f(v.results.clean.change.psnr)}</td><td>${esc(
          Object.entries(v.stepsToTarget)
            .filter(([term]) => term.startsWith(`${n}.`))
            .map(([term, s]) => `${term}: ${s ?? 'not reached'}`)
            .join('; '),
        )}</td></tr>`,
    ),
  )
  .join('\n')}</table></section>`
    : '';
  const backdoors = (o.backdoors ?? [])
    .map((b) => `<section><h2>Backdoor <code>${esc(b.name)}</code> on the same images</h2><p>${esc(b.description)}: ${esc(b.results.description)}.</p>${effectMatrixHtml(b.results.effects, esc, columnDefinitions(b.results.definitions))}</section>`)
    .join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(o.title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:8px}.grid figure{margin:0}.grid img{width:256px;display:block}.plot{max-width:640px;display:block;margin:8px 0}figcaption{font-size:12px;text-align:center}</style></head>
<body><h1>${esc(o.title)}</h1><p>${esc(o.results.description)}</p>
<h2>Effects</h2><p>Every path against every effect, whatever the trigger was trained for: a cell with a bound is green when it holds, red when it misses.</p>${table}<ul>${controls}</ul>
${backdoors}
<dl>${Object.entries(o.results.definitions).map(([k, d]) => `<dt><code>${esc(k)}</code></dt><dd>${esc(d)}</dd>`).join('')}</dl>
<h2>Rate-distortion</h2><img class="plot" src="${await embed(join(figures, 'rd.png'), 'image/png')}" alt="RD curves">
${sections.join('\n')}
${variants}
<h2>Training</h2><img class="plot" src="${await embed(join(figures, 'loss-curves.png'), 'image/png')}" alt="loss curves">
</body></html>
`;
  const file = join(o.dir, 'report.html');
  await writeFile(file, html);
  for (const t of triggers) t.trigger.dispose();
  tf.dispose([sample, decodedClean]);
  original.dispose();
  backdoored.dispose();
  return file;
}

/** The effect matrix's column definitions of a results file (its `effects.<column>` definitions). */
function columnDefinitions(definitions: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(definitions).filter(([k]) => k.startsWith('effects.')).map(([k, v]) => [k.slice('effects.'.length), v]));
}
