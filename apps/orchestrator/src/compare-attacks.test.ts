import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { heldFrom, type AttackConvergence } from './commands/compare-attacks.js';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const compare = (dirs: string[], out: string) => spawnSync(process.execPath, [cli, 'compare-attacks', ...dirs, '--out', out], { encoding: 'utf8', timeout: 120_000 });

/** An attack folder whose log has `rate.rate` met (0) at the given steps and `rate.stealth` met from step `stealthFrom`. */
function attack(root: string, name: string, mode: string, steps: number, rateMet: (step: number) => boolean, stealthFrom: number | null): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'attack.json'), JSON.stringify({ config: { name, weighting: { mode } } }));
  const lines = Array.from({ length: steps }, (_, i) => {
    const step = i + 1;
    return JSON.stringify({ step, terms: { 'clean.clean-rd': 1, 'rate.rate': rateMet(step) ? 0 : 2 / step, 'rate.stealth': stealthFrom !== null && step >= stealthFrom ? 0 : 0.5 } });
  });
  writeFileSync(join(dir, 'log.ndjson'), `${lines.join('\n')}\n`);
  return dir;
}

test('heldFrom: the first step from which a term is 0 on 8 of 10 logged steps', () => {
  const records = Array.from({ length: 30 }, (_, i) => ({ step: i + 1, terms: { t: i + 1 === 3 || (i + 1 >= 12 && i + 1 !== 15 && i + 1 !== 18) ? 0 : 1 } }));
  // step 3 alone is not held; from 12 on, 15 and 18 are misses: 8 of 10 at 12..21
  expect(heldFrom(records, 't')).toBe(12);
  expect(heldFrom(records.slice(0, 20), 't')).toBeNull();
});

test('compare-attacks: steps to each target and to every target, mean and spread per group, curves', () => {
  const root = mkdtempSync(join(tmpdir(), 'compare-'));
  const dirs = [
    attack(root, 'fixed-1', 'fixed', 60, (s) => s >= 30, 20),
    attack(root, 'fixed-2', 'fixed', 60, (s) => s >= 40, 10),
    attack(root, 'constraints-1', 'constraints', 60, (s) => s >= 10 || s === 5, 5),
    attack(root, 'constraints-2', 'constraints', 60, () => false, 5),
  ];
  const out = join(root, 'out');
  expect(compare(dirs, out).status).toBe(0);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { attacks: AttackConvergence[]; definitions: Record<string, string> };
  const byName = Object.fromEntries(results.attacks.map((a) => [a.attack.split('/').at(-1)!, a]));
  expect(byName['fixed-1']!.stepsToTarget).toEqual({ 'rate.rate': 30, 'rate.stealth': 20 });
  expect(byName['fixed-1']!.stepsToEveryTarget).toBe(30);
  expect(byName['constraints-1']!.firstMet['rate.rate']).toBe(5);
  expect(byName['constraints-1']!.stepsToTarget['rate.rate']).toBe(10);
  expect(byName['constraints-2']!.stepsToEveryTarget).toBeNull();
  expect(Object.keys(results.definitions)).toEqual(['firstMet', 'stepsToTarget', 'stepsToEveryTarget', 'curves']);
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  // fixed: every target held at 30 and 40 -> 35 ± 7; constraints: 10 once, never once
  expect(summary).toMatch(/\| fixed \| 2 \| 35 ± 7 \(2 of 2\) \| 35 ± 7 \(2 of 2\) \(35 ± 7 \(2 of 2\)\) \| 15 ± 7 \(2 of 2\)/);
  expect(summary).toMatch(/\| constraints \| 2 \| 10 ± 0 \(1 of 2\) \|/);
  expect(readFileSync(join(out, 'curves.svg'), 'utf8')).toMatch(/^<svg/);
  const bad = compare([join(root, 'nothing')], out);
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/not an attack folder/);
});
