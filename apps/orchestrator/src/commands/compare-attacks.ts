import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { makeDirectory, writeFileAtomic } from '@lic-backdoor/core';
import { mean } from '@lic-backdoor/objectives';
import { readLog, stepsToTarget, type LogRecord } from '../report/log.js';

/** A trigger term holds its target from step s when its hinge is 0 at s and on at least HELD of the WINDOW steps from s. */
const WINDOW = 10;
const HELD = 8;

/** One attack's log, as `compareAttacks` measures it. */
export interface AttackConvergence {
  attack: string;
  group: string;
  steps: number;
  /** Per trigger term: the first step at which its logged loss was 0. */
  firstMet: Record<string, number | null>;
  /** Per trigger term: the first step at which it was 0 and stayed 0 on at least 8 of the 10 steps from it (the target held). */
  stepsToTarget: Record<string, number | null>;
  /** The last of those over every trigger term: when the attack held every target; null when one never did. */
  stepsToEveryTarget: number | null;
}

/** The first logged step at which `term` is 0 and stays 0 on at least HELD of the WINDOW steps from it; null if none. */
export function heldFrom(records: LogRecord[], term: string): number | null {
  for (let i = 0; i + WINDOW <= records.length; i++) {
    if (records[i]!.terms[term] === 0 && records.slice(i, i + WINDOW).filter((r) => r.terms[term] === 0).length >= HELD) return records[i]!.step;
  }
  return null;
}

/** The value at a dot path of an object (`weighting.mode`). */
function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);
}

/** Sample standard deviation (n - 1). */
function sd(v: number[]): number {
  if (v.length < 2) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

/** "mean ± sd (k of n)" of the attacks that reached it, or "never (0 of n)". */
function cell(values: (number | null)[]): string {
  const met = values.filter((v): v is number => v !== null);
  if (!met.length) return `never (0 of ${values.length})`;
  return `${mean(met).toFixed(0)} ± ${sd(met).toFixed(0)} (${met.length} of ${values.length})`;
}

/**
 * `lic-backdoor compare-attacks DIR.. --out OUT [--by PATH]`: how fast attacks reach their targets,
 * grouped by a config field (`weighting.mode` by default): per trigger term, the first step its hinge
 * was met and the step from which it held (8 of 10 steps); the step at which every target held;
 * the mean and sample standard deviation per group over the attacks that got there; and the loss
 * curves (10-step means, one line per attack, a panel per trigger term). Writes summary.md,
 * results.json (with definitions) and curves.svg/png.
 */
export async function compareAttacks(dirs: string[], o: { out: string; by: string }): Promise<void> {
  const attacks: AttackConvergence[] = [];
  const curves: { group: string; attack: string; term: string; step: number; loss: number }[] = [];
  for (const dir of dirs.map((d) => resolve(d))) {
    const summary = JSON.parse(await readFile(join(dir, 'attack.json'), 'utf8').catch(() => Promise.reject(new Error(`${dir} is not an attack folder (no attack.json)`)))) as { config: unknown };
    const group = String(at(summary.config, o.by) ?? '(unset)');
    const records = await readLog(join(dir, 'log.ndjson'));
    if (!records.length) throw new Error(`${dir}/log.ndjson holds no steps`);
    const terms = Object.keys(records[0]!.terms).filter((t) => !t.startsWith('clean.'));
    const firstMet = Object.fromEntries(Object.entries(stepsToTarget(records)).filter(([t]) => terms.includes(t)));
    const heldAt = Object.fromEntries(terms.map((t) => [t, heldFrom(records, t)]));
    const held = Object.values(heldAt);
    const name = `${basename(dir)} (${dir})`;
    attacks.push({ attack: dir, group, steps: records.at(-1)!.step, firstMet, stepsToTarget: heldAt, stepsToEveryTarget: held.some((s) => s === null) ? null : Math.max(...(held as number[])) });
    for (const t of terms) {
      for (let i = 0; i + WINDOW <= records.length; i += 1) {
        curves.push({ group, attack: name, term: t, step: records[i + WINDOW - 1]!.step, loss: mean(records.slice(i, i + WINDOW).map((r) => r.terms[t]!)) });
      }
    }
  }
  const groups = [...new Set(attacks.map((a) => a.group))];
  const terms = [...new Set(attacks.flatMap((a) => Object.keys(a.stepsToTarget)))];
  const of = (g: string) => attacks.filter((a) => a.group === g);
  const rows = [
    `| ${o.by} | attacks | every target held | ${terms.map((t) => `${t} held (first met)`).join(' | ')} |`,
    `| --- | --- | --- | ${terms.map(() => '---').join(' | ')} |`,
    ...groups.map((g) => `| ${g} | ${of(g).length} | ${cell(of(g).map((a) => a.stepsToEveryTarget))} | ${terms.map((t) => `${cell(of(g).map((a) => a.stepsToTarget[t] ?? null))} (${cell(of(g).map((a) => a.firstMet[t] ?? null))})`).join(' | ')} |`),
  ];
  const table = `# Steps to target, by ${o.by}\n\nmean ± sample standard deviation over the attacks that got there (k of n); logged steps ${[...new Set(attacks.map((a) => a.steps))].join(', ')}\n\n${rows.join('\n')}\n`;
  await makeDirectory(resolve(o.out));
  await writeFileAtomic(join(resolve(o.out), 'summary.md'), table);
  const definitions = {
    firstMet: "per trigger term, the first step at which its logged (unweighted, batch) loss was 0: its hinge met on every example of that step's batch",
    stepsToTarget: `per trigger term, the first step s at which its loss was 0 and was 0 on at least ${HELD} of the ${WINDOW} logged steps s..s+${WINDOW - 1}: the target held`,
    stepsToEveryTarget: 'the largest stepsToTarget over the trigger terms; null when one never held',
    curves: `each term's loss averaged over the ${WINDOW} steps ending at the plotted step`,
  };
  await writeFileAtomic(join(resolve(o.out), 'results.json'), `${JSON.stringify({ command: 'compare-attacks', by: o.by, definitions, attacks }, null, 2)}\n`);
  // vega is ESM-only: loaded when the figure is drawn
  const { curvesSpec, renderVegaLite, writeFigure } = await import('../report/figures.js');
  await writeFigure(join(resolve(o.out), 'curves'), await renderVegaLite(curvesSpec(curves, `Trigger terms' losses (${WINDOW}-step means) by ${o.by}`)));
  process.stdout.write(table);
}
