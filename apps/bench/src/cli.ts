#!/usr/bin/env node
import { Command, Option } from 'commander';
import { trainStep } from './train-step.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got '${v}'`);
  return n;
};

const program = new Command().name('bench').description('lic-backdoor benchmarks; the last line of each is JSON');

program
  .command('train-step')
  .description('time one Adam step of the factorized-prior autoencoder (median after a warm-up)')
  .option('--N <n>', 'hidden channels', int, 128)
  .option('--M <m>', 'latent channels', int, 192)
  .option('--batch <b>', 'batch size', int, 4)
  .option('--size <s>', 'crop size (square)', int, 128)
  .option('--steps <k>', 'timed steps (median reported)', int, 5)
  .option('--warmup <k>', 'untimed warm-up steps', int, 2)
  .option('--seed <s>', 'seed of weights and data', int, 0)
  .option('--workers <k>', 'data-parallel shards (worker threads incl. this one); K > 1 also times K = 1', int, 1)
  .option('--scaling <list>', 'comma-separated worker counts also timed in the same run (scaling curve), e.g. 1,2,4,8', (v) => v.split(',').map(int))
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(['tensorflow', 'wasm', 'cpu']))
  .action(async (options) => {
    const result = await trainStep(options, (line) => console.error(line));
    console.log(JSON.stringify(result));
  });

await program.parseAsync(process.argv);
