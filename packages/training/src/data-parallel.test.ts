import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, initializeBackend } from '@lic-backdoor/core';
import { DataParallelTrainer, TrainingWorkerError } from './data-parallel.js';
import { perExampleUniform } from './trainable.js';

const fixture = join(__dirname, '__fixtures__', 'tiny-autoencoder.cjs');

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

function trainer(workers: number, options: Record<string, unknown> = {}, timeouts: { stepTimeoutMs?: number } = {}) {
  return DataParallelTrainer.create({
    trainable: { module: fixture, options: { seed: 5, ...options } },
    workers,
    optimizers: { main: { learningRate: 1e-3 }, aux: { learningRate: 1e-2 } },
    backend: 'wasm',
    ...timeouts,
  });
}

function batches(count: number, size: number) {
  const rng = createRng(9);
  return Array.from({ length: count }, () => ({
    batch: { data: rng.uniformArray(4 * size * size * 3), shape: [4, size, size, 3] as [number, number, number, number] },
    seeds: Array.from({ length: 4 }, () => rng.nextSeed()),
  }));
}

async function losses(workers: number, steps: number): Promise<number[][]> {
  const t = await trainer(workers);
  const out: number[][] = [];
  try {
    for (const [i, { batch, seeds }] of batches(steps, 16).entries()) {
      const r = await t.step(batch, seeds, i);
      out.push([r.losses.main!, r.losses.aux!, r.metrics['main.mse']!]);
    }
  } finally {
    await t.close();
  }
  return out;
}

describe('DataParallelTrainer', () => {
  it('K = 1 and K = 2 give the same losses within 1e-4 relative after 20 steps, and the loss falls', async () => {
    const one = await losses(1, 20);
    const two = await losses(2, 20);
    for (let s = 0; s < 20; s++) {
      for (let j = 0; j < 3; j++) expect(Math.abs(two[s]![j]! - one[s]![j]!) / Math.abs(one[s]![j]!)).toBeLessThanOrEqual(1e-4);
    }
    expect(one[19]![0]!).toBeLessThan(one[0]![0]!);
    expect(one[19]![1]!).toBeLessThan(one[0]![1]!);
  });

  it('an uneven split (3 shards of a batch of 4) still matches K = 1', async () => {
    const [a, b] = [await trainer(1), await trainer(3)];
    try {
      for (const [i, { batch, seeds }] of batches(3, 16).entries()) {
        const ra = await a.step({ ...batch, data: batch.data.slice() }, seeds, i);
        const rb = await b.step(batch, seeds, i);
        expect(Math.abs(rb.losses.main! - ra.losses.main!) / ra.losses.main!).toBeLessThan(1e-4);
        expect(rb.gradientNorms.main).toBeGreaterThan(0);
        expect(Math.abs(rb.gradientNorms.main! - ra.gradientNorms.main!) / ra.gradientNorms.main!).toBeLessThan(1e-4);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it.each([
    ['throw', /worker 1 failed at step 1: .*injected failure/],
    ['exit', /worker 1 exited unexpectedly with code 3/],
    ['hang', /did not finish step 1 within 1500 ms/],
    ['throw-main', /step 1 failed in the main thread: injected main-thread failure/],
  ])('a worker that fails (%s) makes the step fail with a clear error, and the trainer stops', async (kind, message) => {
    const t = await trainer(2, { fault: { kind, step: 1 } }, { stepTimeoutMs: 1500 });
    const [first, second] = batches(2, 16);
    await t.step(first!.batch, first!.seeds, 0);
    const error = await t.step(second!.batch, second!.seeds, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingWorkerError);
    expect((error as TrainingWorkerError).code).toBe('TRAINING_WORKER');
    expect((error as Error).message).toMatch(message);
    await expect(t.step(first!.batch, first!.seeds, 2)).rejects.toThrow(TrainingWorkerError);
    await t.close();
  });

  it('each shard gets the sources of its own examples and the same context', async () => {
    const t = await trainer(2);
    try {
      const [{ batch, seeds }] = batches(1, 16) as [ReturnType<typeof batches>[number]];
      const r = await t.step(batch, seeds, 0, { sources: ['faces', 'faces', 'faces', 'photos'], context: { k: 7 } });
      // shard 0 holds three faces of 2, shard 1 one of 2: the weighted mean is 3/4 only if each saw its own
      expect(r.metrics['main.faceShare']).toBeCloseTo(0.75, 6);
      expect(r.metrics['main.context']).toBeCloseTo(7, 6);
      // a metric only the photo-holding shard reports is that shard's value, not diluted by the faces-only shard
      expect(r.metrics['main.photoMetric']).toBeCloseTo(2, 6);
      await expect(t.step(batch, seeds, 1, { sources: ['faces'] })).rejects.toThrow(/1 sources/);
    } finally {
      await t.close();
    }
  });

  it('a batch in parts of different image sizes: each shard computes its own part, losses weighted by examples', async () => {
    const rng = createRng(3);
    const part = (n: number, size: number) => ({ data: rng.uniformArray(n * size * size * 3), shape: [n, size, size, 3] as [number, number, number, number] });
    const [small, large] = [part(2, 16), part(2, 32)];
    const seeds = [11, 12, 13, 14];
    const first = async (t: DataParallelTrainer, batch: Parameters<DataParallelTrainer['step']>[0], s: number[]) => {
      try {
        return (await t.step(batch, s, 0)).losses.main!;
      } finally {
        await t.close();
      }
    };
    const alone = [await first(await trainer(1), { ...small, data: small.data.slice() }, seeds.slice(0, 2)), await first(await trainer(1), { ...large, data: large.data.slice() }, seeds.slice(2))];
    const mixed = await first(await trainer(2), [small, large], seeds);
    expect(alone[1]).not.toBeCloseTo(alone[0]!, 3);
    expect(Math.abs(mixed - (alone[0]! + alone[1]!) / 2) / mixed).toBeLessThan(1e-5);
    // one shard would hold a 16 px and a 32 px example
    const t = await trainer(1);
    await expect(t.step([small, large], seeds, 0)).rejects.toThrow(/shard 0 \(examples 0-3\) would mix images of different sizes/);
    await t.close();
  });

  it("the trainable's constants reach every shard's loss as batch.constants and are disposed after the step", async () => {
    const t = await trainer(2, { constants: true });
    try {
      const [{ batch, seeds }] = batches(1, 16) as [ReturnType<typeof batches>[number]];
      await t.step(batch, seeds, 0);
      const before = tf.memory().numTensors;
      const r = await t.step(batch, seeds, 1);
      // each shard's mean of its own examples, weighted by its share: the batch mean
      expect(r.metrics['main.constantMean']).toBeCloseTo(batch.data.reduce((a, b) => a + b, 0) / batch.data.length, 5);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await t.close();
    }
  });

  it('state() and loadState() resume training exactly: 3 + 3 steps equal 6 uninterrupted steps', async () => {
    const data = batches(6, 16);
    const straight = await trainer(2);
    const expected: number[] = [];
    for (const [i, { batch, seeds }] of data.entries()) expected.push((await straight.step({ ...batch, data: batch.data.slice() }, seeds, i)).losses.main!);
    await straight.close();
    const first = await trainer(2);
    for (const [i, { batch, seeds }] of data.slice(0, 3).entries()) await first.step({ ...batch, data: batch.data.slice() }, seeds, i);
    const saved = first.state();
    await first.close();
    const resumed = await trainer(2, { seed: 99 });
    resumed.loadState(saved);
    for (const [i, { batch, seeds }] of data.slice(3).entries()) {
      expect((await resumed.step({ ...batch, data: batch.data.slice() }, seeds, i + 3)).losses.main).toBe(expected[i + 3]);
    }
    await resumed.close();
  });

  it('close() terminates every worker thread', async () => {
    const t = await trainer(3);
    const workers = (t as unknown as { workers: import('node:worker_threads').Worker[] }).workers;
    expect(workers).toHaveLength(2);
    const exits = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
    await t.close();
    await expect(Promise.all(exits)).resolves.toHaveLength(2);
    await expect(t.step(batches(1, 16)[0]!.batch, [1, 2, 3, 4], 0)).rejects.toThrow(/closed/);
  });

  it('rejects a batch smaller than the number of shards and a seed count that does not match', async () => {
    const t = await trainer(1);
    const { batch } = batches(1, 16)[0]!;
    await expect(t.step(batch, [1, 2], 0)).rejects.toThrow(/4 examples but 2 seeds/);
    await t.close();
  });
});

describe('perExampleUniform', () => {
  it("an example's noise depends on its seed only, not on the rest of the batch", () => {
    const ab = perExampleUniform([2, 3, 3, 2], [11, 22]);
    const b = perExampleUniform([1, 3, 3, 2], [22]);
    expect(Array.from(tf.slice(ab, [1, 0, 0, 0], [1, 3, 3, 2]).dataSync())).toEqual(Array.from(b.dataSync()));
    expect(tf.max(tf.abs(ab)).dataSync()[0]).toBeLessThanOrEqual(0.5);
  });
});
