import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TriggerV1 } from '@lic-backdoor/core';
import { to8Bit } from '@lic-backdoor/evaluators';
import { codingCodec, type Runtime } from '@lic-backdoor/onnx';
import type { RegistryFactory } from './plugins.js';
import { resolvePaths, type AttackConfig } from './config.js';
import { createBackdooredCodec, createCodec, createTriggers, loadTriggerStates } from './trainable.js';

/** The triggered image as a victim receives it: trigger applied, rounded to 8 bits, in [0, 1]. */
export function triggeredImage(trigger: TriggerV1, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(to8Bit(trigger.apply(x)), 255) as tf.Tensor4D);
}

/** The backdoored codec and trained triggers of an attack folder, and the original codec. */
export async function loadAttack(dir: string, o: { registry: RegistryFactory; runtime?: Runtime }) {
  const { runtime } = o;
  const summary = JSON.parse(await readFile(join(dir, 'attack.json'), 'utf8')) as { config: AttackConfig; configFile?: string };
  // paths are relative to the attack folder (absolute in folders written before that)
  const config = resolvePaths(summary.config, dir);
  const registry = await o.registry(summary.configFile ? dirname(resolve(dir, summary.configFile)) : dir);
  // two codecs beside the task backbones: no memory arena for the float graphs either
  const original = await codingCodec(await createCodec(registry, config), runtime, { memoryArena: false });
  const backdoored = await codingCodec(await createBackdooredCodec(registry, config, dir), runtime, { memoryArena: false });
  const triggers = await createTriggers(registry, config);
  await loadTriggerStates(triggers, join(dir, 'triggers.safetensors'));
  return { config, registry, original, backdoored, triggers };
}

