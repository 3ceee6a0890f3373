import { dirname, resolve } from 'node:path';
import { isRecord, readAttackConfig, readConfigFile, validateAttack } from '@lic-backdoor/attack';
import { loadRegistry } from '../plugins.js';
import { readRunConfig } from './run.js';
import { checkSweepConfig } from './sweep.js';

/**
 * What one config file is, once validated as `run`, `attack` or `sweep` would validate it before
 * training: a run config (it has an `attack` section), a sweep config (a `run` file and a `grid`) or
 * an attack config. `init` is not checked, since it may name an earlier stage's output that does not exist yet.
 */
export async function checkConfigFile(file: string): Promise<string> {
  const raw = await readConfigFile(file);
  if (isRecord(raw) && typeof raw.run === 'string' && !('attack' in raw)) {
    const { runs, points } = await checkSweepConfig(file);
    return `sweep config, ${runs} runs (${points} grid points x ${runs / points} seeds)`;
  }
  if (isRecord(raw) && 'attack' in raw) {
    const { attacks } = await readRunConfig(file);
    return `run config, ${attacks.length} attack${attacks.length > 1 ? 's' : ''} (${attacks.map((a) => a.name).join(', ')})`;
  }
  const config = await readAttackConfig(file);
  await validateAttack(config, await loadRegistry(dirname(resolve(file))));
  return `attack config, ${config.triggers.length} trigger${config.triggers.length > 1 ? 's' : ''}, ${config.schedule.steps} steps`;
}

/** `lic-backdoor check-config FILE..`: validates each config without creating anything; fails when any is invalid. */
export async function checkConfig(files: string[]): Promise<void> {
  let invalid = 0;
  for (const file of files) {
    try {
      console.log(`${file}: valid ${await checkConfigFile(file)}`);
    } catch (error) {
      invalid += 1;
      console.error(`${file}: ${(error as Error).message}`);
    }
  }
  if (invalid) throw new Error(`${invalid} of ${files.length} configs invalid`);
}
