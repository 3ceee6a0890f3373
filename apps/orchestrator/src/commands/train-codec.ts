import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ImageFolderDataset, createRng, initializeBackend, readSafetensors, writeFileAtomic, writeSafetensors, type BackendName } from '@lic-backdoor/core';
import { createCodecTrainable, readStateDict, TRAINABLE_MODELS, type CodecTrainingOptions, writeStateDict } from '@lic-backdoor/codecs';
import { DataParallelTrainer, type TrainerState } from '@lic-backdoor/training';
import { Progress } from '../progress.js';
import { runEnvironment } from '../run-info.js';

export interface TrainCodecOptions {
  model: string;
  lambda: number;
  data: string;
  steps: number;
  out: string;
  resume?: boolean;
  initWeights?: string;
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
  backend?: BackendName;
}

const MODELS: readonly string[] = TRAINABLE_MODELS;

/**
 * `lic-backdoor train-codec`: trains a learned codec on seeded random crops with the data-parallel
 * engine (Adam `lr` for the model, `auxLr` for the quantiles), logs every step as NDJSON,
 * checkpoints atomically every `checkpointEvery` steps (model, flat parameters, Adam state), and
 * writes `model.safetensors` (CompressAI state dict with CDF tables) at the end. `--resume`
 * continues from the checkpoint; batches depend only on (seed, step), so a resumed run sees the
 * same data as an uninterrupted one.
 */
export async function trainCodec(o: TrainCodecOptions): Promise<void> {
  if (!MODELS.includes(o.model)) throw new Error(`Unknown model '${o.model}'. Available: ${MODELS.join(', ')}`);
  for (const [name, v] of Object.entries({ lambda: o.lambda, lr: o.lr, auxLr: o.auxLr })) {
    if (!(v > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
  }
  if (o.size % 64 !== 0) throw new Error(`--size must be a multiple of 64, got ${o.size}`);
  const out = resolve(o.out);
  const checkpointFile = join(out, 'checkpoint.safetensors');
  // model.safetensors (CompressAI state dict with CDF tables) is rewritten at every checkpoint.
  const hasCheckpoint = await exists(checkpointFile);
  if (hasCheckpoint && !o.resume) throw new Error(`${checkpointFile} exists: pass --resume to continue it, or choose another --out`);
  const backend = await initializeBackend({ prefer: o.backend });
  const dataset = await ImageFolderDataset.load(resolve(o.data), { minSize: o.size });
  await mkdir(out, { recursive: true });

  const config: CodecTrainingOptions & Record<string, unknown> = {
    model: o.model as CodecTrainingOptions['model'],
    N: o.N,
    M: o.M,
    lambda: o.lambda,
    seed: o.seed,
  };
  const trainer = await DataParallelTrainer.create({
    trainable: { module: import.meta.resolve('@lic-backdoor/codecs/trainable'), options: config },
    workers: o.workers,
    optimizers: { main: { learningRate: o.lr }, aux: { learningRate: o.auxLr } },
    backend: o.backend,
  });
  const trainable = trainer.trainable as ReturnType<typeof createCodecTrainable>;
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
      trainable.model.loadStateDict(state);
      trainer.loadParametersFromTrainable();
      console.error(`starting from the weights of ${o.initWeights} (fresh optimizer state)`);
    }
    await writeFileAtomic(
      join(out, 'config.json'),
      JSON.stringify({ command: 'train-codec', config: { ...o, data: resolve(o.data), out }, dataset: { files: dataset.files.length }, environment: runEnvironment(backend) }, null, 2),
    );
    const log = join(out, 'log.ndjson');
    await trimLog(log, start);
    const progress = new Progress(`train-codec ${o.model} lambda=${o.lambda}`, o.steps, o.logEvery);
    const writeModel = async (step: number) => {
      trainable.model.entropyBottleneck.update();
      await writeStateDict(join(out, 'model.safetensors'), trainable.model.stateDict(), { ...stringify(config), step: String(step), format: 'pt' });
    };
    const checkpoint = async (step: number) => {
      await writeCheckpoint(checkpointFile, trainer.state(), trainable.model.stateDict(), { ...stringify(config), step: String(step) });
      await writeModel(step);
    };
    for (let step = start; step < o.steps; step++) {
      const rng = createRng(o.seed).fork(`batch-${step}`);
      const data = dataset.randomCropData(rng, o.batch, o.size, { flip: true });
      const seeds = Array.from({ length: o.batch }, () => rng.nextSeed());
      const t0 = performance.now();
      const r = await trainer.step({ data, shape: [o.batch, o.size, o.size, 3] }, seeds, step);
      const ms = performance.now() - t0;
      const mse = r.metrics['main.mse']!;
      const record = { step: step + 1, loss: r.losses.main, bpp: r.metrics['main.bpp'], mse, psnr: 10 * Math.log10(1 / mse), aux: r.losses.aux, ms: Math.round(ms), time: new Date().toISOString() };
      await appendFile(log, `${JSON.stringify(record)}\n`);
      progress.update(step + 1, `loss ${record.loss!.toFixed(4)} bpp ${record.bpp!.toFixed(3)} psnr ${record.psnr.toFixed(2)} ${record.ms} ms/step`);
      if ((step + 1) % o.checkpointEvery === 0 || step + 1 === o.steps) await checkpoint(step + 1);
    }
    progress.done();
    if (start >= o.steps) await writeModel(o.steps);
    console.log(join(out, 'model.safetensors'));
  } finally {
    await trainer.close();
  }
}

/** Keeps the log lines of steps up to `step` (those a resumed run does not recompute). */
async function trimLog(log: string, step: number): Promise<void> {
  const text = await readFile(log, 'utf8').catch(() => '');
  const kept = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        return (JSON.parse(line) as { step: number }).step <= step;
      } catch {
        return false;
      }
    });
  await writeFileAtomic(log, kept.map((l) => `${l}\n`).join(''));
}

function stringify(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** One atomic file: the model state dict, the flat parameters and each group's Adam state. */
async function writeCheckpoint(file: string, state: TrainerState, model: Record<string, { shape: number[]; data: Float32Array | Int32Array }>, metadata: Record<string, string>): Promise<void> {
  const tensors: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = { ...model };
  tensors['trainer.parameters'] = { shape: [state.parameters.length], data: state.parameters };
  const steps: Record<string, string> = {};
  for (const [group, adam] of Object.entries(state.optimizers)) {
    tensors[`trainer.adam.${group}.m`] = { shape: [adam.m.length], data: adam.m };
    tensors[`trainer.adam.${group}.v`] = { shape: [adam.v.length], data: adam.v };
    steps[`adam.${group}.step`] = String(adam.step);
  }
  await writeSafetensors(file, tensors, { ...metadata, ...steps });
}

async function readCheckpoint(file: string): Promise<{ state: TrainerState; step: number; saved: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(file);
  const parameters = tensors['trainer.parameters'];
  if (!parameters) throw new Error(`${file} is not a train-codec checkpoint (no trainer.parameters)`);
  const optimizers: TrainerState['optimizers'] = {};
  for (const key of Object.keys(metadata).filter((k) => k.startsWith('adam.') && k.endsWith('.step'))) {
    const group = key.slice(5, -5);
    optimizers[group] = {
      m: tensors[`trainer.adam.${group}.m`]!.data as Float32Array,
      v: tensors[`trainer.adam.${group}.v`]!.data as Float32Array,
      step: Number(metadata[key]),
    };
  }
  return { state: { parameters: parameters.data as Float32Array, optimizers }, step: Number(metadata.step), saved: metadata };
}
