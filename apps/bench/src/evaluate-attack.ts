import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');

export interface EvaluateAttackRun {
  images: number;
  wall_s: number;
  /** wall_s / images (setup and the face triggers' held-out faces included). */
  wall_s_per_image: number;
  /** Peak RSS of the evaluate-attack process, MB (from /usr/bin/time -v; null without it). */
  peak_rss_mb: number | null;
}

/**
 * `pnpm bench evaluate-attack`: `lic-backdoor evaluate-attack` of an attack folder (default: the
 * shipped backdoor) on the first N images of a folder (default Kodak), once per N, each in its own
 * process, with its wall time and peak RSS (so that growth with N shows).
 */
export function benchEvaluateAttack(o: { attack: string; data: string; images: number[]; runtime: string }, log: (line: string) => void): { name: 'evaluate-attack'; attack: string; runtime: string; runs: EvaluateAttackRun[] } {
  const cli = join(root, 'apps', 'orchestrator', 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run pnpm build first`);
  const time = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const runs: EvaluateAttackRun[] = [];
  for (const n of o.images) {
    const out = mkdtempSync(join(tmpdir(), 'bench-evaluate-attack-'));
    const args = ['--single-threaded-gc', cli, 'evaluate-attack', '--attack', o.attack, '--data', o.data, '--limit', String(n), '--out', out, '--runtime', o.runtime];
    const started = performance.now();
    const r = time ? spawnSync(time, ['-v', '-o', join(out, 'time.txt'), process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 }) : spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = (performance.now() - started) / 1000;
    if (r.status !== 0) throw new Error(`evaluate-attack on ${n} images failed: ${r.stderr.trim().split('\n').pop()}`);
    const peak = time ? /Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(join(out, 'time.txt'), 'utf8')) : null;
    const run = { images: n, wall_s: Math.round(wall), wall_s_per_image: Math.round((10 * wall) / n) / 10, peak_rss_mb: peak ? Math.round(Number(peak[1]) / 1024) : null };
    log(`${n} images: ${run.wall_s} s (${run.wall_s_per_image} s per image), peak RSS ${run.peak_rss_mb ?? '?'} MB`);
    runs.push(run);
  }
  return { name: 'evaluate-attack', attack: o.attack, runtime: o.runtime, runs };
}

export const DEFAULT_ATTACK = join(root, 'models', 'attacks', 'mbt-4triggers-ft6');
export const KODAK = resolve(root, '..', 'shared', 'data', 'kodak');
