#!/usr/bin/env node
import { Command, Option } from 'commander';
import { trainStep } from './train-step.js';
// the codec benchmarks load onnxruntime-node: imported when they run, so that the train-step bundle needs none

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

const list = (v: string) => v.split(',');

program
  .command('codec')
  .description('encode and decode time of each learned codec in each runtime on one image (median after a warm-up, each in its own process, with its peak RSS), beside the PyTorch reference forward when /usr/bin/python3 has torch')
  .option('--codecs <list>', 'comma-separated: mbt (mbt2018-mean N=128), factorized (bmshj2018-factorized N=128)', list, ['mbt', 'factorized'])
  .option('--runtimes <list>', 'comma-separated: onnx, tfjs (the first writes the stream every runtime decodes)', list, ['onnx', 'tfjs'])
  .option('--image <file>', 'test image', new URL('../../../../shared/data/kodak/kodim01.png', import.meta.url).pathname)
  .option('--reps <k>', 'timed repetitions (median reported)', int, 5)
  .action(async (options) => {
    const { benchCodec } = await import('./codec.js');
    const result = await benchCodec(options, (line) => console.error(line));
    console.log(JSON.stringify(result));
  });

program
  .command('evaluate-attack')
  .description('lic-backdoor evaluate-attack (built CLI) on the first N images, once per N, each in its own process: wall time per image and peak RSS')
  .option('--attack <dir>', 'attack folder (default: models/attacks/mbt-4triggers-ft6)')
  .option('--data <dir>', 'image folder (default: ../shared/data/kodak)')
  .option('--images <list>', 'comma-separated image counts', (v) => v.split(',').map(int), [6, 24])
  .option('--runtime <name>', 'coding runtime: onnx or tfjs', 'onnx')
  .action(async (options) => {
    const { DEFAULT_ATTACK, KODAK, benchEvaluateAttack } = await import('./evaluate-attack.js');
    console.log(JSON.stringify(benchEvaluateAttack({ attack: DEFAULT_ATTACK, data: KODAK, ...options }, (line) => console.error(line))));
  });

program
  .command('fuzz')
  .description('mutated factorized and mbt2018-mean bitstreams (small images) decoded with a per-case timeout: clean errors by code, silent decodes, crashes, hangs, peak RSS')
  .option('--cases <n>', 'number of mutated streams', int, 100000)
  .option('--seed <s>', 'seed of the mutations', int, 1)
  .option('--timeout-ms <ms>', 'a case taking longer is a hang', int, 2000)
  .option('--keep-hangs <dir>', 'write each stream that hung into this folder')
  .action(async (options) => {
    const { fuzz } = await import('./fuzz.js');
    const result = await fuzz(options, (line) => console.error(line));
    console.log(JSON.stringify(result));
    if (result.crashes || result.hangs) process.exitCode = 1;
  });

program
  .command('web')
  .description('the built web page (apps/web/dist) in headless Chromium: encode and decode time of one image through a codec (first run, then the median of the repetitions)')
  .option('--image <file>', 'test image (default: ../shared/data/kodak/kodim23.png)')
  .option('--codec <choice>', "the page's codec choice", 'codec:mbt-n128-l0013')
  .option('--reps <k>', 'timed repetitions after the first run (median reported)', int, 3)
  .action(async (options) => {
    const { KODIM23, benchWeb } = await import('./web.js');
    console.log(JSON.stringify(await benchWeb({ image: KODIM23, ...options }, (line) => console.error(line))));
  });

program
  .command('codec-one', { hidden: true })
  .requiredOption('--codec <id>')
  .requiredOption('--weights <file>')
  .requiredOption('--runtime <name>')
  .requiredOption('--image <file>')
  .requiredOption('--stream <file>')
  .option('--reps <k>', '', int, 5)
  .action(async (options) => {
    const { timeCodec } = await import('./codec.js');
    console.log(JSON.stringify(await timeCodec(options)));
  });

await program.parseAsync(process.argv);
