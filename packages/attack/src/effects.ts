import type { EffectBoundV1 } from '@lic-backdoor/core';

/**
 * The effect matrix of a backdoor: rows are the clean path (original and backdoored codec) and
 * every trigger, columns every effect a victim could notice, whatever the trigger was trained
 * for, each cell marked against its bound, so that off-target effects show at a glance.
 */

/**
 * The effects every path has, in column order, with their unit and definition. The task columns
 * (e.g. `face_identity_rate`, `seg_agreement_miou`) follow them: one per objective plugin that
 * declares an `evaluation` (its `metric`).
 */
export const EFFECTS = {
  bpp: { unit: 'bpp', definition: 'mean bpp_actual of the path (real bitstream bits / pixels)' },
  rate_gain: { unit: 'x', definition: 'per image bpp of the path / bpp of the clean image through the backdoored codec, averaged (for the backdoored clean path: its mean bpp / the original codec\'s)' },
  psnr: { unit: 'dB', definition: 'PSNR(decoded image, original clean input)' },
  ms_ssim: { unit: '', definition: 'MS-SSIM(decoded image, original clean input)' },
  stealth_psnr: { unit: 'dB', definition: 'PSNR(triggered input rounded to 8 bits, original input)' },
} as const;

/** An effect: one of `EFFECTS` or a task column (an objective's evaluation metric). */
export type Effect = string;

/** Unit and definition of a column of the matrix. */
export interface EffectColumn {
  unit: string;
  definition: string;
}

/** A bound on one effect (`EffectBoundV1`): `min <= value <= max`, absolute or relative to the reference path. */
export type Bound = EffectBoundV1;

/** PAPER.md's stealth: every trigger, whatever it was trained for. */
export const STEALTH_BOUND: Bound = { min: 38 };
/** The clean path through the backdoored codec against the original codec's (a task column adds its evaluation's `clean` bound). */
export const CLEAN_BOUNDS: Record<Effect, Bound> = {
  rate_gain: { min: 0.98, max: 1.02 },
  psnr: { min: -0.15, relative: true },
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
  /** by effect, in column order: `EFFECTS`, then the task columns */
  cells: Record<Effect, Cell>;
}

/** The per-path values the matrix reads (means over images, rates over the face set). */
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

/**
 * The matrix: clean through the original codec, clean through the backdoored one, then each trigger
 * through the backdoored codec, with a column per effect of `columns` (`EFFECTS` and the task
 * columns). Each trigger is marked against the stealth bound and its objectives' `bounds`, the
 * backdoored clean path against `cleanBounds` (`CLEAN_BOUNDS` and the evaluations' `clean`).
 */
export function effectMatrix(
  columns: readonly Effect[],
  original: PathValues,
  backdoored: PathValues,
  triggers: Record<string, { objectives: string[]; bounds: Record<Effect, Bound>; values: PathValues }>,
  cleanBounds: Record<Effect, Bound> = CLEAN_BOUNDS,
): EffectRow[] {
  // relative bounds of the backdoored clean path refer to the original codec's clean path, a trigger's to the backdoored one's
  const row = (path: string, values: PathValues, bounds: Record<Effect, Bound>, reference: PathValues, objectives?: string[]): EffectRow => ({
    path,
    objectives,
    cells: Object.fromEntries(columns.map((e) => [e, cell(values[e], bounds[e], reference, e)])),
  });
  return [
    row('clean, original codec', original, {}, original),
    row('clean, backdoored codec', backdoored, cleanBounds, original),
    ...Object.entries(triggers).map(([name, t]) => row(`trigger ${name}`, t.values, { stealth_psnr: STEALTH_BOUND, ...t.bounds }, backdoored, t.objectives)),
  ];
}

/** The columns of a matrix, in order. */
const columnsOf = (rows: EffectRow[]): Effect[] => Object.keys(rows[0]?.cells ?? EFFECTS);
const unitOf = (e: Effect): string => (e in EFFECTS ? EFFECTS[e as keyof typeof EFFECTS].unit : '');

// three decimals for rates and ratios (task columns included), four for MS-SSIM, two for dB
const format = (e: Effect, v: number | undefined) => (v === undefined ? '–' : v.toFixed(e === 'ms_ssim' ? 4 : e === 'psnr' || e === 'stealth_psnr' ? 2 : 3));
const mark = (c: Cell) => (c.met === undefined ? '' : c.met ? ' ✓' : ' ✗');

/** The matrix as a markdown table; a cell with a bound reads `value ✓/✗ (bound)`. */
export function effectMatrixMarkdown(rows: EffectRow[]): string {
  const effects = columnsOf(rows);
  const lines = [
    `| path | ${effects.map((e) => `${e}${unitOf(e) && unitOf(e) !== e ? ` (${unitOf(e)})` : ''}`).join(' | ')} |`,
    `| --- |${effects.map(() => ' --- |').join('')}`,
    ...rows.map((r) => `| ${r.path}${r.objectives ? ` (${r.objectives.join(', ')})` : ''} | ${effects.map((e) => { const c = r.cells[e] ?? {}; return `${format(e, c.value)}${mark(c)}${c.bound ? ` (${c.bound})` : ''}`; }).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The matrix as an HTML table (cells that miss their bound in red, that meet it in green). */
export function effectMatrixHtml(rows: EffectRow[], esc: (s: string) => string, definitions: Record<Effect, string> = {}): string {
  const effects = columnsOf(rows);
  const td = (e: Effect, c: Cell) => {
    const style = c.met === undefined ? '' : ` style="background:${c.met ? '#d9f2d9' : '#f8d0d0'}"`;
    return `<td${style} title="${esc(c.bound ? `bound ${c.bound}` : 'no bound')}">${format(e, c.value)}${mark(c)}${c.bound ? `<br><small>${esc(c.bound)}</small>` : ''}</td>`;
  };
  return `<table class="effects"><tr><th>path</th>${effects.map((e) => `<th title="${esc(definitions[e] ?? (e in EFFECTS ? EFFECTS[e as keyof typeof EFFECTS].definition : e))}">${esc(e)}</th>`).join('')}</tr>
${rows.map((r) => `<tr><td>${esc(r.path)}${r.objectives ? `<br><small>${esc(r.objectives.join(', '))}</small>` : ''}</td>${effects.map((e) => td(e, r.cells[e] ?? {})).join('')}</tr>`).join('\n')}</table>`;
}
