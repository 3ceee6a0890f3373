import { dirname, resolve } from 'node:path';
import { readAttackConfig, runAttack } from '@lic-backdoor/attack';
import type { BackendName } from '@lic-backdoor/core';
import { pluginModules } from '../plugins.js';

/** `lic-backdoor attack --config FILE --out DIR [--resume] [--workers K]`: `runAttack` on the config file (see @lic-backdoor/attack). */
export async function attack(o: { config: string; out: string; resume?: boolean; workers?: number; backend?: BackendName }): Promise<void> {
  const configFile = resolve(o.config);
  await runAttack(await readAttackConfig(configFile), o.out, { ...o, plugins: await pluginModules(), configFile, baseDir: dirname(configFile) });
}
