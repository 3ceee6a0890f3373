import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { triggeredImage } from '@lic-backdoor/evaluators';
import { codingCodec, type Runtime } from '@lic-backdoor/onnx';
import type { RegistryFactory } from './plugins.js';
import { resolvePaths, type AttackConfig } from './config.js';
import { createBackdooredCodec, createCodec, createTriggers, loadTriggerStates } from './trainable.js';

// where a victim's image is measured (evaluators); exported here too, as before
export { triggeredImage };

/** An attack folder's config (its paths resolved) and the plugin registry its plugins resolve in. */
export async function readAttackFolder(dir: string, registryFactory: RegistryFactory) {
  const summary = JSON.parse(await readFile(join(dir, 'attack.json'), 'utf8')) as { config: AttackConfig; configFile?: string };
  // paths are relative to the attack folder (absolute in folders written before that)
  const config = resolvePaths(summary.config, dir);
  const registry = await registryFactory(summary.configFile ? dirname(resolve(dir, summary.configFile)) : dir);
  return { config, registry };
}

/** The backdoored codec and trained triggers of an attack folder (without the original codec: `loadAttack`). */
export async function loadBackdoor(dir: string, o: { registry: RegistryFactory; runtime?: Runtime }) {
  const { config, registry } = await readAttackFolder(dir, o.registry);
  // two codecs beside the task backbones in loadAttack's callers: no memory arena for the float graphs either
  const backdoored = await codingCodec(await createBackdooredCodec(registry, config, dir), o.runtime, { memoryArena: false });
  const triggers = await createTriggers(registry, config);
  await loadTriggerStates(triggers, join(dir, 'triggers.safetensors'));
  return { config, registry, backdoored, triggers };
}

/** The backdoored codec and trained triggers of an attack folder, and the original codec. */
export async function loadAttack(dir: string, o: { registry: RegistryFactory; runtime?: Runtime }) {
  const backdoor = await loadBackdoor(dir, o);
  const original = await codingCodec(await createCodec(backdoor.registry, backdoor.config), o.runtime, { memoryArena: false });
  return { ...backdoor, original };
}

