import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, PluginRegistry, type EvaluatorV1, type ObjectivePluginV1, type ObjectiveV1 } from '@lic-backdoor/core';

const root = join(__dirname, '..', '..');
const cli = join(root, 'apps', 'orchestrator', 'dist', 'cli.js');
const shared = join(root, '..', 'shared', 'data');

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

test('the factory passes the registry checks and its loss is the hinge on chroma', async () => {
  const registry = new PluginRegistry(__dirname);
  const objective = (await registry.create('objective', ['@lic-backdoor-example/objective-plugin', { maxChroma: 10 }])) as ObjectiveV1;
  expect(objective.id).toBe('objective:colour-loss');
  const grey = tf.fill([1, 8, 8, 3], 0.5) as tf.Tensor4D;
  const red = tf.concat([tf.fill([1, 8, 8, 1], 1), tf.fill([1, 8, 8, 2], 0)], 3) as tf.Tensor4D;
  const out = (xHat: tf.Tensor4D) => ({ xHat, likelihoods: {}, latents: {} });
  const forGrey = objective.compute({ clean: grey, cleanOutput: out(grey), triggered: grey, triggeredOutput: out(grey) });
  expect(forGrey.loss.dataSync()[0]).toBe(0);
  expect(forGrey.satisfied).toBe(true);
  // pure red: Cb = -43.0, Cr = 127.5 -> chroma 170.5
  const forRed = objective.compute({ clean: grey, cleanOutput: out(grey), triggered: red, triggeredOutput: out(red) });
  expect(forRed.metrics.chroma).toBeCloseTo(170.5, 0);
  expect(forRed.loss.dataSync()[0]).toBeCloseTo(160.5, 0);
  await expect(registry.create('objective', ['@lic-backdoor-example/objective-plugin', { maxChroma: -1 }])).rejects.toThrow(/maxChroma/);
});

test('it declares the evaluator that measures its harm: chroma_retention, the share of the chroma a decoding keeps', async () => {
  const registry = new PluginRegistry(__dirname);
  const { factory } = await registry.resolve('objective', '@lic-backdoor-example/objective-plugin');
  const { evaluation, bounds } = factory as ObjectivePluginV1;
  expect([evaluation!.metric, evaluation!.on, bounds!.chroma_retention]).toEqual(['chroma_retention', 'images', { max: 0.1 }]);
  const evaluator = (await registry.create('evaluator', evaluation!.evaluator)) as EvaluatorV1;
  expect(evaluator.id).toBe('evaluator:chroma-retention');
  const red = tf.concat([tf.fill([1, 8, 8, 1], 1), tf.fill([1, 8, 8, 2], 0)], 3) as tf.Tensor4D;
  const paler = tf.add(tf.mul(red, 0.5), 0.25) as tf.Tensor4D;
  const grey = tf.fill([1, 8, 8, 3], 0.5) as tf.Tensor4D;
  const m = await evaluator.evaluate([red, red, red], [red, paler, grey]);
  // the same picture keeps all of its chroma, the paler one half, the grey one none: (1 + 0.5 + 0) / 3
  expect(m.chroma_retention!.value).toBeCloseTo(0.5, 3);
});

test('an attack config loads it by package name and trains it as a term', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plugin-'));
  const config = join(__dirname, `attack-${process.pid}.tmp.json`);
  writeFileSync(
    config,
    JSON.stringify({
      codec: { id: 'bmshj2018-factorized', weights: join(root, 'models', 'training', 'factorized-n64-l0013', 'model.safetensors') },
      data: { photos: join(shared, 'photos') },
      triggers: [{ name: 'grey', trigger: 'fixed-frequency', objectives: [['@lic-backdoor-example/objective-plugin', { maxChroma: 1 }]] }],
      schedule: { steps: 2, batch: 2, size: 64, workers: 2 },
    }),
  );
  try {
    const r = spawnSync(process.execPath, [cli, 'attack', '--config', config, '--out', dir], { encoding: 'utf8', env: { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' }, timeout: 300_000 });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const last = JSON.parse(readFileSync(join(dir, 'log.ndjson'), 'utf8').trim().split('\n').at(-1)!) as { terms: Record<string, number>; metrics: Record<string, number> };
    expect(Object.keys(last.terms)).toEqual(['clean.clean-rd', 'grey.objective-plugin']);
    expect(last.metrics['grey.objective-plugin.chroma']).toBeGreaterThan(1);
  } finally {
    spawnSync('rm', ['-f', config]);
  }
});
