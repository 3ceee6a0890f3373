import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { chromium } from 'playwright-core';
import { resultsFile } from '@lic-backdoor/core';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const root = join(__dirname, '..', '..', '..');
const shared = join(root, '..', 'shared', 'data');
const weights = join(root, 'models', 'training', 'factorized-n64-l0013', 'model.safetensors');
const env = { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' };

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 900_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function config(dir: string, patch: Record<string, unknown> = {}, steps = 6): string {
  const file = join(dir, `run-${Math.random().toString(36).slice(2)}.yaml`);
  const c = {
    name: 'tiny',
    seed: 4,
    codec: { id: 'bmshj2018-factorized', weights },
    attack: {
      data: { photos: join(shared, 'photos') },
      triggers: [{ name: 'rate', trigger: ['adaptive-frequency', { width: 4 }], objectives: ['rate', 'stealth'] }],
      schedule: { steps, batch: 2, size: 64, checkpointEvery: 1, logEvery: 1, workers: 2 },
    },
    evaluate: { data: join(shared, 'kodak'), limit: 1 },
    report: { images: 1 },
    ...patch,
  };
  writeFileSync(file, stringify(c));
  return file;
}

/** Chromium from CHROMIUM_PATH or Debian's package (.ci/run installs it). */
function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean) as string[];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium found (tried ${candidates.join(', ')}): install Debian's chromium or set CHROMIUM_PATH`);
  return found;
}

describe('run', () => {
  let base: string;
  let straight: string;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'run-'));
    straight = join(base, 'straight');
    const r = run('run', config(base), '--out', straight);
    if (r.code !== 0) throw new Error(r.err);
  });

  it('writes the run folder of DESIGN.md', () => {
    for (const f of ['config.resolved.yaml', 'env.json', 'log.ndjson', 'results.json', 'summary.md', 'report.html', 'attack/checkpoint.safetensors', 'attack/log.ndjson', 'figures/rd.svg', 'figures/rd.png', 'figures/loss-curves.png', 'figures/rate/difference.png', 'figures/rate-dct-energy.svg']) {
      expect(existsSync(join(straight, f))).toBe(true);
    }
    const envJson = JSON.parse(readFileSync(join(straight, 'env.json'), 'utf8')) as { gitCommit: string; backend: { backend: string }; packages: Record<string, string>; seeds: { run: number } };
    expect(envJson.backend.backend).toBe('wasm');
    expect(envJson.seeds.run).toBe(4);
    expect(envJson.packages['@lic-backdoor/triggers']).toMatch(/^\d+\.\d+\.\d+/);
    const results = JSON.parse(readFileSync(join(straight, 'results.json'), 'utf8')) as { definitions: Record<string, string>; triggers: Record<string, { stealth_psnr: number }> };
    expect(results.definitions.stealth_psnr).toMatch(/PSNR/);
    expect(results.triggers.rate!.stealth_psnr).toBeGreaterThan(20);
    // the shape every results.json shares; the main attack's evaluation too
    expect(resultsFile.parse(results)).toMatchObject({ command: 'run', name: expect.any(String) });
    expect(resultsFile.parse(JSON.parse(readFileSync(join(straight, 'eval', 'results.json'), 'utf8')))).toMatchObject({ command: 'evaluate-attack' });
    expect(Object.keys((results as unknown as { metrics: object }).metrics)).toContain('trigger.rate.rate_gain');
  });

  it('a second run on the same folder skips every stage', () => {
    const r = run('run', config(base), '--out', straight, '--resume');
    expect(r.code).toBe(0);
    for (const s of ['attack', 'evaluate', 'report']) expect(r.err).toMatch(new RegExp(`stage ${s}: skipped`));
  });

  it('backdoors made elsewhere are measured on the same images, their effect matrix in results.json, summary.md and the report', () => {
    const out = join(base, 'with-backdoor');
    const backdoors = [{ name: 'earlier', attack: join(straight, 'attack'), description: 'the first run of this test' }];
    const r = run('run', config(base, { backdoors }), '--out', out);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/stage evaluate:backdoor:earlier/);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { backdoors: Record<string, { effects: { path: string; cells: Record<string, { value?: number }> }[] }> };
    const own = JSON.parse(readFileSync(join(straight, 'eval', 'results.json'), 'utf8')) as { effects: { path: string; cells: Record<string, { value?: number }> }[] };
    // the same attack on the same image: the same bits and figures as its own evaluation
    expect(results.backdoors.earlier!.effects).toEqual(own.effects);
    expect(own.effects.map((row) => row.path)).toEqual(['clean, original codec', 'clean, backdoored codec', 'trigger rate']);
    expect(own.effects[2]!.cells.seg_agreement_miou!.value).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toMatch(/## backdoor earlier: the first run of this test\n\n\| path \| bpp/);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/Backdoor <code>earlier<\/code> on the same images/);
    const missing = run('check-config', config(base, { backdoors: [{ name: 'gone', attack: join(base, 'nowhere'), description: 'x' }] }));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/backdoors\.gone: .*nowhere is not a folder written by `attack`/);
  });

  it('kill -9 during the attack, then --resume: the run finishes with the results of an uninterrupted run', async () => {
    const killed = join(base, 'killed');
    const file = config(base);
    const child = spawn(process.execPath, [cli, 'run', file, '--out', killed], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolveKill, reject) => {
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        // after the third step's checkpoint
        if (/attack tiny 3\/6/.test(err)) {
          child.kill('SIGKILL');
          resolveKill();
        }
      });
      child.on('exit', () => reject(new Error(`run ended before it could be killed:\n${err}`)));
    });
    expect(existsSync(join(killed, 'results.json'))).toBe(false);
    const r = run('run', file, '--out', killed, '--resume');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/resuming .* at step [2-5]/);
    const losses = (dir: string) => readFileSync(join(dir, 'attack', 'log.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    expect(losses(killed)).toEqual(losses(straight));
    const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'eval', 'results.json'), 'utf8')) as { triggers: unknown; clean: unknown };
    expect(results(killed).triggers).toEqual(results(straight).triggers);
    expect(results(killed).clean).toEqual(results(straight).clean);
  });

  it('with trainCodec, the codec is trained first and attacked from its weights', () => {
    const out = join(base, 'with-codec');
    const file = config(base, { codec: { id: 'bmshj2018-factorized' }, trainCodec: { model: 'bmshj2018-factorized', lambda: 0.01, data: join(shared, 'photos'), steps: 2, N: 8, M: 8, batch: 2, size: 64 } }, 1);
    const r = run('run', file, '--out', out);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/stage train-codec/);
    const summary = JSON.parse(readFileSync(join(out, 'attack', 'attack.json'), 'utf8')) as { config: { codec: { weights: string } } };
    // attack.json records paths relative to its folder
    expect(summary.config.codec.weights).toBe(join('..', 'codec', 'model.safetensors'));
    expect(existsSync(join(out, 'results.json'))).toBe(true);
  });

  it.each([
    ['an unknown plugin', { attack: { data: { photos: join(shared, 'photos') }, triggers: [{ name: 'x', trigger: 'nope', objectives: ['rate'] }], schedule: { steps: 1 } } }, /triggers\.0\.trigger: .*nope/],
    ['a wrong type', { seed: 'four' }, /seed: .*number/],
    ['a missing data folder', { evaluate: { data: '/nonexistent/kodak' } }, /evaluate\.data: \/nonexistent\/kodak does not exist/],
    ['a variant named main', { variants: [{ name: 'main', description: 'x' }] }, /variants\.0\.name: 'main' is taken/],
    ['two backdoors of one name', { backdoors: [{ name: 'b', attack: root, description: 'x' }, { name: 'b', attack: root, description: 'y' }] }, /backdoors\.1\.name: 'b' is taken/],
  ])('%s fails before any training, naming the problem; check-config says the same', (_, patch, message) => {
    const out = join(base, `bad-${Math.random().toString(36).slice(2)}`);
    const file = config(base, patch);
    const r = run('run', file, '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(existsSync(join(out, 'attack'))).toBe(false);
    const check = run('check-config', file);
    expect(check.code).toBe(1);
    expect(check.err).toMatch(message);
    expect(check.err).toMatch(/1 of 1 configs invalid/);
  });

  it('check-config: every config in configs/ is valid, run configs with their variants, attack configs with their triggers', () => {
    const folder = join(root, 'configs');
    const files = readdirSync(folder).filter((f) => f.endsWith('.yaml')).map((f) => join(folder, f));
    expect(files.length).toBeGreaterThanOrEqual(10);
    const r = run('check-config', ...files);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(files.length);
    expect(lines.find((l) => l.includes('quickstart.yaml:'))).toMatch(/valid run config, 1 attack \(main\)$/);
    expect(lines.find((l) => l.includes('baselines-kodak.yaml:'))).toMatch(/valid run config, 4 attacks \(main, fixed-frequency, patch, blend\)$/);
    expect(lines.find((l) => l.includes('attack-4triggers-mbt-ft6.yaml:'))).toMatch(/valid attack config, 4 triggers, 120 steps$/);
  });

  it('report.html opens in headless Chromium: every image loads, no console errors, a screenshot that is not blank', async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${join(straight, 'report.html')}`);
      const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ ok: (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0, alt: (i as HTMLImageElement).alt })));
      expect(images.length).toBeGreaterThanOrEqual(8);
      expect(images.filter((i) => !i.ok)).toEqual([]);
      expect(errors).toEqual([]);
      const shot = await page.screenshot({ fullPage: true });
      // a blank page compresses to almost nothing; a report with images and plots does not
      expect(shot.length).toBeGreaterThan(50_000);
    } finally {
      await browser.close();
    }
  });
});
