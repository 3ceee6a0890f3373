#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { LicBackdoorError } from '@lic-backdoor/core';
import { info } from './commands/info.js';
import { plugins } from './commands/plugins.js';
import { inspect } from './commands/inspect.js';

const program = new Command()
  .name('lic-backdoor')
  .description('Backdoor attacks against learned image compression: codecs, triggers, objectives, evaluation.')
  .exitOverride()
  .showHelpAfterError();

const backendOption = () =>
  new Option('--backend <name>', 'tfjs backend (default: tensorflow, else wasm, else cpu)').choices(['tensorflow', 'wasm', 'cpu']);

program
  .command('info')
  .description('show the tfjs backend in use (and why), versions, cores and plugin packages')
  .option('--json', 'print JSON')
  .addOption(backendOption())
  .action(info);

program
  .command('plugins')
  .description('list every registered plugin with its kind, name and options')
  .option('--json', 'print JSON')
  .option('--kind <kind>', 'only plugins of this kind (transform, codec, trigger, objective, evaluator)')
  .action(plugins);

program
  .command('inspect')
  .description('apply a transform plugin to an image: output layout, shape, channel statistics, round-trip error')
  .argument('<image>', 'PNG, JPEG or WebP file')
  .requiredOption('--transform <id>', 'transform plugin, e.g. block-dct or transform:jpeg-ycbcr')
  .option('--options <json>', 'plugin options as JSON, e.g. \'{"blockSize":8}\'')
  .option('--json', 'print JSON')
  .addOption(backendOption())
  .action(inspect);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  const message = LicBackdoorError.isInstance(error) ? `${error.name}: ${error.message}` : (error as Error).stack ?? String(error);
  console.error(`lic-backdoor: ${message}`);
  process.exit(1);
}
