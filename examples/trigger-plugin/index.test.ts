import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, PluginRegistry, type TriggerV1 } from '@lic-backdoor/core';

const root = join(__dirname, '..', '..');
const cli = join(root, 'apps', 'orchestrator', 'dist', 'cli.js');
const shared = join(root, '..', 'shared', 'data');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' }, timeout: 600_000 });

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

test('the factory passes the registry checks; the trigger adds a checkerboard of its learned amplitude and restores its state', async () => {
  const registry = new PluginRegistry(__dirname);
  const trigger = (await registry.create('trigger', ['@lic-backdoor-example/trigger-plugin', { period: 2, amplitude: 51 }])) as TriggerV1;
  expect(trigger.id).toBe('trigger:checkerboard');
  const x = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
  const y = Array.from(trigger.apply(x).dataSync());
  // pixel (0,0) is in a -1 square, (0,2) in a +1 square: 0.5 -/+ 51/255
  expect(y[0]).toBeCloseTo(0.3, 5);
  expect(y[2 * 3]).toBeCloseTo(0.7, 5);
  expect(trigger.variables()).toHaveLength(1);
  const other = (await registry.create('trigger', ['@lic-backdoor-example/trigger-plugin', { period: 2 }])) as TriggerV1;
  other.loadStateDict(trigger.stateDict());
  expect(Array.from(other.apply(x).dataSync())).toEqual(y);
  expect(() => other.loadStateDict({})).toThrow(/lacks 'scale'/);
  await expect(registry.create('trigger', ['@lic-backdoor-example/trigger-plugin', { period: 1 }])).rejects.toThrow(/period/);
});

test('an attack config trains it by package name, and evaluate-attack measures it with real bitstreams', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trigger-plugin-'));
  const config = join(__dirname, `attack-${process.pid}.tmp.json`);
  writeFileSync(
    config,
    JSON.stringify({
      codec: { id: 'bmshj2018-factorized', weights: join(root, 'models', 'training', 'factorized-n64-l0013', 'model.safetensors') },
      data: { photos: join(shared, 'photos') },
      triggers: [{ name: 'checker', trigger: ['@lic-backdoor-example/trigger-plugin', { amplitude: 3 }], objectives: [['rate', { targetMultiple: 2 }], 'stealth'] }],
      schedule: { steps: 2, batch: 2, size: 64, workers: 2, triggerLr: 0.01 },
    }),
  );
  try {
    const attack = join(dir, 'attack');
    const r = run('attack', '--config', config, '--out', attack);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const last = JSON.parse(readFileSync(join(attack, 'log.ndjson'), 'utf8').trim().split('\n').at(-1)!) as { terms: Record<string, number> };
    expect(Object.keys(last.terms)).toEqual(['clean.clean-rd', 'checker.rate', 'checker.stealth']);
    const e = run('evaluate-attack', '--attack', attack, '--data', join(shared, 'kodak'), '--limit', '1', '--tasks', 'none', '--out', join(dir, 'eval'));
    expect(e.status).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'eval', 'results.json'), 'utf8')) as { triggers: Record<string, { stealth_psnr: number; rate_gain: number }> };
    // amplitude about 3/255 on every pixel: stealth near 20 log10(255/3) = 38.6 dB
    expect(results.triggers.checker!.stealth_psnr).toBeGreaterThan(33);
    expect(results.triggers.checker!.rate_gain).toBeGreaterThan(0.5);
  } finally {
    spawnSync('rm', ['-f', config]);
  }
});
