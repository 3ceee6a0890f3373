/**
 * The effect matrix of a backdoor: rows are the clean path (original and backdoored codec) and
 * every trigger, columns every effect a victim could notice, whatever the trigger was trained
 * for, each cell marked against its bound, so that off-target effects show at a glance.
 */

/** The effects, in column order, with their unit and definition. */
export const EFFECTS = {
  bpp: { unit: 'bpp', definition: 'mean bpp_actual of the path (real bitstream bits / pixels)' },
  rate_gain: { unit: 'x', definition: 'per image bpp of the path / bpp of the clean image through the backdoored codec, averaged (for the backdoored clean path: its mean bpp / the original codec\'s)' },
  psnr: { unit: 'dB', definition: 'PSNR(decoded image, original clean input)' },
  ms_ssim: { unit: '', definition: 'MS-SSIM(decoded image, original clean input)' },
  stealth_psnr: { unit: 'dB', definition: 'PSNR(triggered input rounded to 8 bits, original input)' },
  face_identity_rate: { unit: 'ratio', definition: 'face set: share of faces whose decoding still verifies as the original person (evaluator:face-recognition)' },
  seg_agreement_miou: { unit: 'ratio', definition: 'mean mIoU between the ISNet masks of the decoding and of the original (evaluator:segmentation)' },
} as const;

export type Effect = keyof typeof EFFECTS;

/** A bound on one effect: `min <= value <= max` (either may be absent), absolute or relative. */
export interface Bound {
  min?: number;
  max?: number;
  /** add the reference path's value of the same effect to min and max: for a trigger the clean path through the backdoored codec, for that clean path the original codec's */
  relative?: true;
}

/**
 * The targets of a selective backdoor (PAPER.md's stealth; the per-harm and off-target bounds of
 * the issue that asked for selective backdoors): by objective, the bounds of a trigger trained for it;
 * every trigger also has `stealth_psnr >= 38`; the backdoored clean path has `CLEAN_BOUNDS`.
 */
export const TRIGGER_BOUNDS: Record<string, Partial<Record<Effect, Bound>>> = {
  rate: { rate_gain: { min: 4 }, psnr: { min: -1, relative: true } },
  distortion: { psnr: { max: 15 }, rate_gain: { max: 1.5 } },
  face: { face_identity_rate: { max: 0.1 }, psnr: { min: 26 }, rate_gain: { max: 1.5 } },
  segmentation: { seg_agreement_miou: { max: 0.4 }, psnr: { min: 26 }, rate_gain: { max: 1.5 } },
};
export const STEALTH_BOUND: Bound = { min: 38 };
export const CLEAN_BOUNDS: Partial<Record<Effect, Bound>> = {
  rate_gain: { min: 0.98, max: 1.02 },
  psnr: { min: -0.15, relative: true },
  face_identity_rate: { min: 0.95 },
  seg_agreement_miou: { min: -0.01, max: 0.01, relative: true },
};

export interface Cell {
  value?: number;
  /** the bound as text, e.g. `>= 38`, `0.98 to 1.02`, `>= 29.53` (a relative bound resolved, rounded to 3 decimals) */
  bound?: string;
  met?: boolean;
}

export interface EffectRow {
  path: string;
  objectives?: string[];
  cells: Record<Effect, Cell>;
}

/** The per-path values the matrix reads (means over images, face rates over the face set). */
export type PathValues = Partial<Record<Effect, number>>;

function cell(value: number | undefined, bound: Bound | undefined, reference: PathValues, effect: Effect): Cell {
  if (!bound) return { value };
  const base = bound.relative ? reference[effect] : 0;
  if (base === undefined) return { value };
  const [min, max] = [bound.min, bound.max].map((b) => (b === undefined ? undefined : base + b));
  const r = (v?: number) => +v!.toFixed(3);
  const text = min !== undefined && max !== undefined ? `${r(min)} to ${r(max)}` : min !== undefined ? `>= ${r(min)}` : `<= ${r(max)}`;
  if (value === undefined) return { bound: text };
  return { value, bound: text, met: (min === undefined || value >= min) && (max === undefined || value <= max) };
}

/** The matrix: clean through the original codec, clean through the backdoored one, then each trigger through the backdoored codec. */
export function effectMatrix(original: PathValues, backdoored: PathValues, triggers: Record<string, { objectives: string[]; values: PathValues }>): EffectRow[] {
  const effects = Object.keys(EFFECTS) as Effect[];
  // relative bounds of the backdoored clean path refer to the original codec's clean path, a trigger's to the backdoored one's
  const row = (path: string, values: PathValues, bounds: Partial<Record<Effect, Bound>>, reference: PathValues, objectives?: string[]): EffectRow => ({
    path,
    objectives,
    cells: Object.fromEntries(effects.map((e) => [e, cell(values[e], bounds[e], reference, e)])) as Record<Effect, Cell>,
  });
  return [
    row('clean, original codec', original, {}, original),
    row('clean, backdoored codec', backdoored, CLEAN_BOUNDS, original),
    ...Object.entries(triggers).map(([name, t]) => {
      const bounds: Partial<Record<Effect, Bound>> = { stealth_psnr: STEALTH_BOUND };
      for (const o of t.objectives) Object.assign(bounds, TRIGGER_BOUNDS[o]);
      return row(`trigger ${name}`, t.values, bounds, backdoored, t.objectives);
    }),
  ];
}

const format = (e: Effect, v: number | undefined) => (v === undefined ? '–' : v.toFixed(e === 'bpp' || e === 'rate_gain' || e === 'face_identity_rate' || e === 'seg_agreement_miou' ? 3 : e === 'ms_ssim' ? 4 : 2));
const mark = (c: Cell) => (c.met === undefined ? '' : c.met ? ' ✓' : ' ✗');

/** The matrix as a markdown table; a cell with a bound reads `value ✓/✗ (bound)`. */
export function effectMatrixMarkdown(rows: EffectRow[]): string {
  const effects = Object.keys(EFFECTS) as Effect[];
  const lines = [
    `| path | ${effects.map((e) => `${e}${EFFECTS[e].unit && EFFECTS[e].unit !== 'ratio' && EFFECTS[e].unit !== e ? ` (${EFFECTS[e].unit})` : ''}`).join(' | ')} |`,
    `| --- |${effects.map(() => ' --- |').join('')}`,
    ...rows.map((r) => `| ${r.path}${r.objectives ? ` (${r.objectives.join(', ')})` : ''} | ${effects.map((e) => { const c = r.cells[e]; return `${format(e, c.value)}${mark(c)}${c.bound ? ` (${c.bound})` : ''}`; }).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The matrix as an HTML table (cells that miss their bound in red, that meet it in green). */
export function effectMatrixHtml(rows: EffectRow[], esc: (s: string) => string): string {
  const effects = Object.keys(EFFECTS) as Effect[];
  const td = (e: Effect, c: Cell) => {
    const style = c.met === undefined ? '' : ` style="background:${c.met ? '#d9f2d9' : '#f8d0d0'}"`;
    return `<td${style} title="${esc(c.bound ? `bound ${c.bound}` : 'no bound')}">${format(e, c.value)}${mark(c)}${c.bound ? `<br><small>${esc(c.bound)}</small>` : ''}</td>`;
  };
  return `<table class="effects"><tr><th>path</th>${effects.map((e) => `<th title="${esc(EFFECTS[e].definition)}">${esc(e)}</th>`).join('')}</tr>
${rows.map((r) => `<tr><td>${esc(r.path)}${r.objectives ? `<br><small>${esc(r.objectives.join(', '))}</small>` : ''}</td>${effects.map((e) => td(e, r.cells[e])).join('')}</tr>`).join('\n')}</table>`;
}
