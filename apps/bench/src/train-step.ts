import { fileURLToPath } from 'node:url';
import { createRng, initializeBackend, type BackendName } from '@lic-backdoor/core';
import { DataParallelTrainer } from '@lic-backdoor/training';

export interface TrainStepOptions {
  N: number;
  M: number;
  batch: number;
  size: number;
  steps: number;
  warmup: number;
  seed: number;
  /** Data-parallel shards K; with K > 1 the run also times K = 1 for the speed-up. */
  workers: number;
  /**
   * Further shard counts timed in the same run (interleaved step by step), for a scaling curve;
   * K = 1 and `workers` are always among them.
   */
  scaling?: readonly number[];
  backend?: BackendName;
}

/** One point of the scaling curve: K shards against K = 1 in the same run. */
export interface ScalingPoint {
  workers: number;
  ms_per_step: number;
  /** t1 / tK */
  speedup: number;
  /** t1 / (K tK) */
  parallel_efficiency: number;
}

export interface TrainStepResult {
  name: string;
  backend: string;
  ms_per_step: number;
  peak_rss_mb: number;
  steps_ms: number[];
  workers: number;
  /** With workers > 1: K = 1 in the same run, speed-up t1 / tK, efficiency t1 / (K tK). */
  ms_per_step_k1?: number;
  speedup?: number;
  parallel_efficiency?: number;
  /** With `scaling`: every K timed, ascending. */
  scaling?: ScalingPoint[];
  config: Omit<TrainStepOptions, 'backend'>;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Module that exports `createTrainable` for the autoencoder, as workers import it. */
export const autoencoderModule = fileURLToPath(new URL('./autoencoder.js', import.meta.url));

async function createTrainer(options: TrainStepOptions, workers: number, module: string, importer?: (s: string) => Promise<unknown>): Promise<DataParallelTrainer> {
  return DataParallelTrainer.create({
    trainable: { module, options: { N: options.N, M: options.M, seed: options.seed } },
    workers,
    optimizers: { main: { learningRate: 1e-4 } },
    backend: options.backend,
    ...(importer ? { importer } : {}),
  });
}

/**
 * Times steps of one or more trainers on the same batches. With several trainers the steps are
 * interleaved (trainer 1 step i, trainer 2 step i, ...) so that slow drifts of the machine's speed
 * hit every configuration alike.
 */
async function timeSteps(options: TrainStepOptions, trainers: DataParallelTrainer[], log: (line: string) => void): Promise<number[][]> {
  const rng = createRng(options.seed);
  const times: number[][] = trainers.map(() => []);
  for (let i = 0; i < options.warmup + options.steps; i++) {
    const data = rng.uniformArray(options.batch * options.size * options.size * 3);
    const seeds = Array.from({ length: options.batch }, () => rng.nextSeed());
    for (const [t, trainer] of trainers.entries()) {
      const start = performance.now();
      const r = await trainer.step({ data: data.slice(), shape: [options.batch, options.size, options.size, 3] }, seeds, i);
      const ms = performance.now() - start;
      if (i >= options.warmup) times[t]!.push(ms);
      const { shardMs, waitMs, updateMs, slowestWorkerMs } = r.timings;
      log(`K=${trainer.shards} ${i < options.warmup ? 'warm-up' : 'step'} ${i + 1}: ${ms.toFixed(0)} ms (shard ${shardMs.toFixed(0)}, worker ${slowestWorkerMs.toFixed(0)}, wait ${waitMs.toFixed(0)}, update ${updateMs.toFixed(0)}), loss ${r.losses.main!.toFixed(5)}`);
    }
  }
  return times;
}

/**
 * Times Adam steps of the factorized autoencoder through the data-parallel engine: median of
 * `steps` after `warmup` steps, with K = `workers` shards (and K = 1 first when K > 1, and every
 * K of `scaling`).
 */
export async function trainStep(
  options: TrainStepOptions,
  log: (line: string) => void = () => {},
  module = autoencoderModule,
  /** How this thread imports `module` (workers always use native import). */
  importer?: (specifier: string) => Promise<unknown>,
): Promise<TrainStepResult> {
  const report = await initializeBackend({ prefer: options.backend });
  const counts = [...new Set([1, options.workers, ...(options.scaling ?? [])])].sort((a, b) => a - b);
  if (counts.some((k) => !Number.isInteger(k) || k < 1 || k > options.batch)) {
    throw new RangeError(`every worker count must be an integer from 1 to the batch size ${options.batch}: got ${counts.join(', ')}`);
  }
  const trainers: DataParallelTrainer[] = [];
  let all: number[][];
  try {
    for (const k of counts) trainers.push(await createTrainer(options, k, module, importer));
    all = await timeSteps(options, trainers, log);
  } finally {
    await Promise.all(trainers.map((t) => t.close()));
  }
  const medians = all.map(median);
  const t1 = medians[0]!;
  const points = counts.map((k, i): ScalingPoint => ({
    workers: k,
    ms_per_step: Math.round(medians[i]!),
    speedup: Math.round((t1 / medians[i]!) * 100) / 100,
    parallel_efficiency: Math.round((t1 / (k * medians[i]!)) * 1000) / 1000,
  }));
  const main = counts.indexOf(options.workers);
  const { ms_per_step, speedup, parallel_efficiency } = points[main]!;
  const { backend: _backend, ...config } = options;
  return {
    name: `train-step N=${options.N} M=${options.M} batch=${options.batch}x${options.size}x${options.size} K=${options.workers}`,
    backend: report.backend,
    ms_per_step,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    steps_ms: all[main]!.map(Math.round),
    workers: options.workers,
    ...(options.workers > 1 ? { ms_per_step_k1: Math.round(t1), speedup, parallel_efficiency } : {}),
    ...(options.scaling?.length ? { scaling: points } : {}),
    config,
  };
}
