import { makeDirectory } from '@lic-backdoor/core';
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A figure written as SVG and PNG (rendered by resvg) beside each other. */
export interface Figure {
  svg: string;
  png: Buffer;
}

/** Renders a vega-lite spec to SVG (vega, headless) and PNG (resvg, 2x). */
export async function renderVegaLite(spec: TopLevelSpec): Promise<Figure> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  return { svg, png: Buffer.from(png) };
}

/** Writes `<base>.svg` and `<base>.png`. */
export async function writeFigure(base: string, figure: Figure): Promise<void> {
  await makeDirectory(dirname(base));
  await writeFile(`${base}.svg`, figure.svg);
  await writeFile(`${base}.png`, figure.png);
}

/** Lines of each loss term against the step (log scale), from attack log records. */
export function lossCurveSpec(records: { step: number; terms: Record<string, number> }[], title: string): TopLevelSpec {
  const values = records.flatMap((r) => Object.entries(r.terms).map(([term, loss]) => ({ step: r.step, term, loss: Math.max(loss, 1e-4) })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 260,
    data: { values },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'loss', type: 'quantitative', scale: { type: 'log' }, title: 'unweighted term loss (floored at 1e-4)' },
      color: { field: 'term', type: 'nominal' },
    },
  };
}

/** Loss curves of several attacks: a panel per term, a line per attack, a colour per group (log scale, floored at 1e-4). */
export function curvesSpec(values: { group: string; attack: string; term: string; step: number; loss: number }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: values.map((v) => ({ ...v, loss: Math.max(v.loss, 1e-4) })) },
    facet: { field: 'term', type: 'nominal', title: null },
    columns: 4,
    spec: {
      width: 200,
      height: 140,
      mark: { type: 'line', strokeWidth: 1.2, opacity: 0.8 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'loss', type: 'quantitative', scale: { type: 'log' }, title: 'term loss' },
        color: { field: 'group', type: 'nominal', title: null },
        detail: { field: 'attack', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Rate-distortion points and curves: bpp against PSNR, one colour per series. */
export function rdSpec(points: { series: string; bpp: number; psnr: number }[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Rate-distortion (real bitstreams, mean over the evaluated images)',
    width: 520,
    height: 300,
    data: { values: points },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { x: { field: 'bpp', type: 'quantitative', title: 'bits per pixel' }, y: { field: 'psnr', type: 'quantitative', scale: { zero: false }, title: 'PSNR (dB)' }, color: { field: 'series', type: 'nominal', legend: { labelLimit: 400 } } } },
    ],
  };
}

/** A 16 x 16 heat map of the trigger's DCT energy per coefficient position (u down, v across). */
export function dctEnergySpec(energy: Float64Array, n: number, title: string): TopLevelSpec {
  const values = Array.from(energy, (e, i) => ({ u: Math.floor(i / n), v: i % n, energy: e }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 240,
    height: 240,
    data: { values },
    mark: 'rect',
    encoding: {
      x: { field: 'v', type: 'ordinal', title: 'horizontal frequency v' },
      y: { field: 'u', type: 'ordinal', title: 'vertical frequency u' },
      color: { field: 'energy', type: 'quantitative', scale: { scheme: 'viridis' }, title: 'mean squared change' },
    },
  };
}
