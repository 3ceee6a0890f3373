import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend, type BackendName } from '@lic-backdoor/core';
import { FactorizedAutoencoder } from './autoencoder.js';

export interface TrainStepOptions {
  N: number;
  M: number;
  batch: number;
  size: number;
  steps: number;
  warmup: number;
  seed: number;
  backend?: BackendName;
}

export interface TrainStepResult {
  name: string;
  backend: string;
  ms_per_step: number;
  peak_rss_mb: number;
  steps_ms: number[];
  config: Omit<TrainStepOptions, 'backend'>;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times Adam steps of the factorized autoencoder; median of `steps` after `warmup` steps. */
export async function trainStep(options: TrainStepOptions, log: (line: string) => void = () => {}): Promise<TrainStepResult> {
  const report = await initializeBackend({ prefer: options.backend });
  const model = new FactorizedAutoencoder({ N: options.N, M: options.M, seed: options.seed });
  const optimizer = tf.train.adam(1e-4);
  const rng = createRng(options.seed);
  const times: number[] = [];
  for (let i = 0; i < options.warmup + options.steps; i++) {
    const x = tf.tensor4d(rng.uniformArray(options.batch * options.size * options.size * 3), [options.batch, options.size, options.size, 3]);
    const noiseSeed = rng.nextSeed();
    const start = performance.now();
    const loss = optimizer.minimize(() => model.loss(x, noiseSeed), true, model.variables());
    const value = (await loss!.data())[0]!;
    const ms = performance.now() - start;
    tf.dispose([x, loss!]);
    if (i >= options.warmup) times.push(ms);
    log(`${i < options.warmup ? 'warm-up' : 'step'} ${i + 1}: ${ms.toFixed(0)} ms, loss ${value.toFixed(5)}`);
  }
  const { backend: _backend, ...config } = options;
  return {
    name: `train-step N=${options.N} M=${options.M} batch=${options.batch}x${options.size}x${options.size}`,
    backend: report.backend,
    ms_per_step: Math.round(median(times)),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    steps_ms: times.map(Math.round),
    config,
  };
}
