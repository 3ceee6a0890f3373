import { appendFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ImageFolderDataset, createRng, initializeBackend, writeFileAtomic, makeDirectory, type BackendName } from '@lic-backdoor/core';
import { overlayStateDict, readStateDict, type CodecTrainable, type CodecTrainingOptions, writeStateDict } from '@lic-backdoor/codecs';
import type { CodecPluginV1, PluginRegistry } from '@lic-backdoor/core';
import { loadRegistry } from '../plugins.js';
import { DataParallelTrainer, Progress, exists, readCheckpoint, runEnvironment, stringify, trimLog, writeCheckpoint } from '@lic-backdoor/training';
import { DivergenceGuard } from '../divergence.js';

export interface TrainCodecOptions {
  model: string;
  lambda: number;
  data: string;
  steps: number;
  out: string;
  resume?: boolean;
  initWeights?: string;
  /** With initWeights: load only the tensors whose name and shape fit (warm start from another model). */
  initPartial?: boolean;
  N: number;
  M: number;
  batch: number;
  size: number;
  workers: number;
  checkpointEvery: number;
  logEvery: number;
  seed: number;
  lr: number;
  auxLr: number;
  /** Largest L2 norm of the model's gradient (CompressAI: 1.0); 0 turns clipping off. */
  clipNorm: number;
  backend?: BackendName;
}

/** The codec plugins `train-codec` can train: those whose plugin declares `training` (`CodecTrainingV1`). */
export function trainableCodecs(registry: PluginRegistry): string[] {
  return registry.list('codec').filter((f) => (f as CodecPluginV1).training).map((f) => f.name);
}

/** The training module of codec plugin `model`, or an error naming the codecs that can be trained. */
export function codecTraining(registry: PluginRegistry, model: string): string {
  const known = registry.has('codec', model) ? (registry.get('codec', model) as CodecPluginV1) : undefined;
  if (!known?.training) throw new Error(`${known ? `codec '${model}' declares no training module` : `Unknown model '${model}'`}. Trainable codecs: ${trainableCodecs(registry).join(', ')}`);
  return known.training.module;
}

/**
 * `lic-backdoor train-codec`: trains a learned codec on seeded random crops with the data-parallel
 * engine (Adam `lr` for the model with its gradient norm clipped at `clipNorm`, `auxLr` for the quantiles), logs every step as NDJSON,
 * checkpoints atomically every `checkpointEvery` steps (model, flat parameters, Adam state), and
 * writes `model.safetensors` (CompressAI state dict with CDF tables) at the end. `--resume`
 * continues from the checkpoint; batches depend only on (seed, step), so a resumed run sees the
 * same data as an uninterrupted one.
 */
export async function trainCodec(o: TrainCodecOptions): Promise<void> {
  const module = codecTraining(await loadRegistry(), o.model);
  for (const [name, v] of Object.entries({ lambda: o.lambda, lr: o.lr, auxLr: o.auxLr })) {
    if (!(v > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
  }
  if (!(o.clipNorm >= 0)) throw new Error(`--clip-norm must be 0 (off) or a positive number, got ${o.clipNorm}`);
  if (o.size % 64 !== 0) throw new Error(`--size must be a multiple of 64, got ${o.size}`);
  const out = resolve(o.out);
  const checkpointFile = join(out, 'checkpoint.safetensors');
  // model.safetensors (CompressAI state dict with CDF tables) is rewritten at every checkpoint.
  const hasCheckpoint = await exists(checkpointFile);
  if (hasCheckpoint && !o.resume) throw new Error(`${checkpointFile} exists: pass --resume to continue it, or choose another --out`);
  const backend = await initializeBackend({ prefer: o.backend });
  const dataset = await ImageFolderDataset.load(resolve(o.data), { minSize: o.size });
  await makeDirectory(out);

  const config: CodecTrainingOptions & Record<string, unknown> = {
    model: o.model as CodecTrainingOptions['model'],
    N: o.N,
    M: o.M,
    lambda: o.lambda,
    seed: o.seed,
  };
  const trainer = await DataParallelTrainer.create({
    trainable: { module, options: config },
    workers: o.workers,
    optimizers: { main: { learningRate: o.lr, clipNorm: o.clipNorm || undefined }, aux: { learningRate: o.auxLr } },
    backend: o.backend,
  });
  const trainable = trainer.trainable as unknown as Pick<CodecTrainable, 'stateDict' | 'loadStateDict' | 'updateTables'>;
  let start = 0;
  try {
    if (hasCheckpoint) {
      const { state, step, saved } = await readCheckpoint(checkpointFile);
      for (const k of ['model', 'N', 'M', 'lambda', 'seed'] as const) {
        if (String(saved[k]) !== String(config[k])) throw new Error(`checkpoint was trained with ${k}=${saved[k]}, this run asks for ${config[k]}`);
      }
      trainer.loadState(state);
      start = step;
      console.error(`resuming ${checkpointFile} at step ${start}`);
    } else if (o.resume) {
      console.error(`no checkpoint in ${out}: starting from step 0`);
    }
    if (!hasCheckpoint && o.initWeights) {
      const { state } = await readStateDict(resolve(o.initWeights));
      if (o.initPartial) {
        const overlay = overlayStateDict(trainable.stateDict(), state);
        if (!overlay.loaded.length) throw new Error(`${o.initWeights} has no tensor that fits ${o.model} N=${o.N} M=${o.M}`);
        trainable.loadStateDict(overlay.state);
        console.error(`initialised ${overlay.loaded.length} tensors from ${o.initWeights}: ${prefixes(overlay.loaded)}; kept the initialisation of ${prefixes(overlay.kept) || 'none'}`);
      } else {
        trainable.loadStateDict(state);
        console.error(`starting from the weights of ${o.initWeights} (fresh optimizer state)`);
      }
      trainer.loadParametersFromTrainable();
    }
    await writeFileAtomic(
      join(out, 'config.json'),
      JSON.stringify({ command: 'train-codec', config: { ...o, data: resolve(o.data), out }, dataset: { files: dataset.files.length }, environment: runEnvironment(backend) }, null, 2),
    );
    const log = join(out, 'log.ndjson');
    await trimLog(log, start);
    const progress = new Progress(`train-codec ${o.model} lambda=${o.lambda}`, o.steps, o.logEvery, start);
    const writeModel = async (step: number) => {
      trainable.updateTables();
      await writeStateDict(join(out, 'model.safetensors'), trainable.stateDict(), { ...stringify(config), step: String(step), format: 'pt' });
    };
    const checkpoint = async (step: number) => {
      await writeCheckpoint(checkpointFile, trainer.state(), trainable.stateDict(), { ...stringify(config), step: String(step) });
      await writeModel(step);
    };
    const guard = new DivergenceGuard();
    for (let step = start; step < o.steps; step++) {
      const rng = createRng(o.seed).fork(`batch-${step}`);
      const data = dataset.randomCropData(rng, o.batch, o.size, { flip: true });
      const seeds = Array.from({ length: o.batch }, () => rng.nextSeed());
      const t0 = performance.now();
      const r = await trainer.step({ data, shape: [o.batch, o.size, o.size, 3] }, seeds, step);
      const ms = performance.now() - t0;
      const mse = r.metrics['main.mse']!;
      const record = { step: step + 1, loss: r.losses.main, bpp: r.metrics['main.bpp'], mse, psnr: 10 * Math.log10(1 / mse), aux: r.losses.aux, gradNorm: r.gradientNorms.main, ms: Math.round(ms), time: new Date().toISOString() };
      await appendFile(log, `${JSON.stringify(record)}\n`);
      progress.update(step + 1, `loss ${record.loss!.toFixed(4)} bpp ${record.bpp!.toFixed(3)} psnr ${record.psnr.toFixed(2)} ${record.ms} ms/step`);
      const diverged = guard.check(record.loss!);
      if (diverged) {
        progress.done();
        throw new Error(`training diverged at step ${step + 1}: ${diverged}. The last checkpoint (step ${Math.floor(step / o.checkpointEvery) * o.checkpointEvery || 'none'}) is kept; resume it with a lower --lr`);
      }
      if ((step + 1) % o.checkpointEvery === 0 || step + 1 === o.steps) await checkpoint(step + 1);
    }
    progress.done();
    if (start >= o.steps) await writeModel(o.steps);
    console.log(join(out, 'model.safetensors'));
  } finally {
    await trainer.close();
  }
}

/** The distinct module prefixes of state-dict keys ('g_a', 'h_s', 'entropy_bottleneck'). */
function prefixes(keys: readonly string[]): string {
  return [...new Set(keys.map((k) => k.split('.')[0]!))].join(', ');
}
