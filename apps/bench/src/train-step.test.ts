import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend } from '@lic-backdoor/core';
import { FactorizedAutoencoder } from './autoencoder.js';
import { trainStep } from './train-step.js';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

describe('FactorizedAutoencoder', () => {
  it('downsamples by 16 to M channels and reconstructs the input shape', () => {
    const model = new FactorizedAutoencoder({ N: 8, M: 12, seed: 1 });
    const x = tf.randomUniform([2, 64, 48, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const y = model.encode(x);
    expect(y.shape).toEqual([2, 4, 3, 12]);
    expect(model.decode(y).shape).toEqual([2, 64, 48, 3]);
    expect(model.variables()).toHaveLength(2 * (8 + 6));
  });
});

describe('trainStep', () => {
  it('reports the median step time, peak RSS and a falling loss on a tiny model', async () => {
    const lines: string[] = [];
    // K = 1 in this thread: the model module is the TypeScript source, imported through jest
    const result = await trainStep({ N: 8, M: 8, batch: 2, size: 32, steps: 3, warmup: 1, seed: 0, workers: 1 }, (l) => lines.push(l), 'autoencoder', () => import('./autoencoder.js'));
    expect(result.backend).toBe('wasm');
    expect(result.steps_ms).toHaveLength(3);
    expect(result.workers).toBe(1);
    expect(result.ms_per_step).toBe([...result.steps_ms].sort((a, b) => a - b)[1]);
    expect(result.peak_rss_mb).toBeGreaterThan(10);
    const losses = lines.map((l) => Number(/loss ([\d.]+)/.exec(l)![1]));
    expect(losses).toHaveLength(4);
    expect(losses[3]!).toBeLessThan(losses[0]!);
  });

  it('with --workers 2 also times K = 1 in the same run and reports speed-up and efficiency', async () => {
    const lines: string[] = [];
    const dist = join(__dirname, '..', 'dist', 'autoencoder.js');
    const result = await trainStep({ N: 8, M: 8, batch: 2, size: 32, steps: 2, warmup: 0, seed: 0, workers: 2 }, (l) => lines.push(l), dist, () => import('./autoencoder.js'));
    expect(lines.filter((l) => l.startsWith('K=1'))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('K=2'))).toHaveLength(2);
    expect(result.speedup).toBeCloseTo(result.ms_per_step_k1! / result.ms_per_step, 1);
    expect(result.parallel_efficiency).toBeCloseTo(result.speedup! / 2, 1);
    // same seed and data: K = 1 and K = 2 report the same losses
    const loss = (k: number) => lines.filter((l) => l.startsWith(`K=${k}`)).map((l) => Number(/loss ([\d.]+)/.exec(l)![1]));
    expect(loss(2)[1]).toBeCloseTo(loss(1)[1]!, 4);
  });

  it('with --scaling times every K in the same run and reports each point against K = 1', async () => {
    const lines: string[] = [];
    const dist = join(__dirname, '..', 'dist', 'autoencoder.js');
    const result = await trainStep({ N: 8, M: 8, batch: 3, size: 32, steps: 2, warmup: 0, seed: 0, workers: 1, scaling: [3] }, (l) => lines.push(l), dist, () => import('./autoencoder.js'));
    expect(result.scaling!.map((p) => p.workers)).toEqual([1, 3]);
    expect(result.scaling![0]).toMatchObject({ speedup: 1, parallel_efficiency: 1, ms_per_step: result.ms_per_step });
    const k3 = result.scaling![1]!;
    expect(k3.speedup).toBeCloseTo(result.ms_per_step / k3.ms_per_step, 1);
    expect(k3.parallel_efficiency).toBeCloseTo(k3.speedup / 3, 1);
    expect(lines.filter((l) => l.startsWith('K=3'))).toHaveLength(2);
    const loss = (k: number) => lines.filter((l) => l.startsWith(`K=${k}`)).map((l) => Number(/loss ([\d.]+)/.exec(l)![1]));
    expect(loss(3)[1]).toBeCloseTo(loss(1)[1]!, 4);
  });

  it('refuses a worker count above the batch size before starting any worker', async () => {
    await expect(trainStep({ N: 8, M: 8, batch: 2, size: 32, steps: 1, warmup: 0, seed: 0, workers: 1, scaling: [4] })).rejects.toThrow(/from 1 to the batch size 2: got 1, 4/);
  });
});
