import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { LicBackdoorError, type BackendName } from '@lic-backdoor/core';
import { computeShard, layoutOf, loadParameters, loadTrainable, storeParameters, type ShardResult, type SlotLayout } from './shard.js';
import type { Trainable, TrainableSpec } from './trainable.js';
import { FlatAdam, type AdamOptions, type AdamState } from './adam.js';
import type { StepRequest, WorkerInit } from './worker.js';
import { workerUrl } from './worker-url.js';

/** Error codes of this package. */
export type TrainingErrorCode = 'TRAINING_WORKER';

/** A worker crashed, hung past the timeout, or reported an error; the trainer is closed. */
export class TrainingWorkerError extends LicBackdoorError<TrainingErrorCode> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRAINING_WORKER', message, options);
  }
}

export interface DataParallelOptions {
  /** The model: built in this thread (master parameters, optimizers) and in every worker. */
  trainable: TrainableSpec;
  /** Number of shards per step, K (default: the number of cores). 1 computes in-process. */
  workers?: number;
  /** Adam settings of each parameter group, by group name. */
  optimizers: Record<string, AdamOptions>;
  /** A step fails if a worker has not answered within this time (default 600 000 ms). */
  stepTimeoutMs?: number;
  /** Workers must be ready within this time (default 120 000 ms). */
  startTimeoutMs?: number;
  /** Backend of the workers (default: `initializeBackend`'s choice). */
  backend?: BackendName;
  /** Imports the trainable module in this thread (default: dynamic `import()`). */
  importer?: (specifier: string) => Promise<unknown>;
}

/** Examples of one image size: [N, H, W, C] as a flat float32 array (NHWC). */
export interface BatchPart {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** What one step returns: each group's loss on the whole batch, and metrics (batch means). */
export interface StepResult {
  losses: Record<string, number>;
  metrics: Record<string, number>;
  /** L2 norm of each group's summed gradient, before clipping. */
  gradientNorms: Record<string, number>;
  /** Milliseconds spent on this thread's shard, waiting for the workers, and updating. */
  timings: { shardMs: number; waitMs: number; updateMs: number; slowestWorkerMs: number };
}

interface Pending {
  step: number;
  resolve: (r: ShardResult) => void;
  reject: (e: Error) => void;
}

/** Parameters and optimizer state of a trainer, for checkpoints. */
export interface TrainerState {
  /** The flat parameter vector (layout of `DataParallelTrainer.layout`). */
  parameters: Float32Array;
  /** Adam state of each group. */
  optimizers: Record<string, AdamState>;
}

/**
 * Data-parallel training steps. The batch is split into K contiguous shards; this thread computes
 * shard 0 and K-1 worker threads (each with its own tfjs backend and replica of the variables)
 * compute the others. The master parameters are one flat float32 vector in shared memory;
 * gradients come back through shared memory too (one slot per shard), are summed here, and one
 * Adam update per group is applied in place, which every replica reads before its next shard.
 * Only the shard's examples and a few numbers are messaged.
 */
export class DataParallelTrainer {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private broken: Error | undefined;
  private closed = false;
  private readonly params: Float32Array;
  private readonly grads: Float32Array;
  private readonly adam = new Map<string, { optimizer: FlatAdam; start: number; end: number }>();

  private constructor(
    /** This thread's replica: its variables are the master parameters. */
    readonly trainable: Trainable,
    private readonly entries: SlotLayout[],
    private readonly total: number,
    readonly shards: number,
    private readonly options: DataParallelOptions,
  ) {
    this.params = new Float32Array(new SharedArrayBuffer(total * 4));
    this.grads = new Float32Array(new SharedArrayBuffer(shards * total * 4));
    for (const group of Object.keys(trainable.groups)) {
      const own = entries.filter((e) => e.group === group);
      const start = own.length ? own[0]!.offset : 0;
      const end = own.length ? own[own.length - 1]!.offset + own[own.length - 1]!.size : 0;
      this.adam.set(group, { optimizer: new FlatAdam(end - start, options.optimizers[group]!), start, end });
    }
  }

  /** Where each variable lives in the flat parameter vector. */
  get layout(): readonly SlotLayout[] {
    return this.entries;
  }

  /** Sets a group's learning rate (for schedules). */
  setLearningRate(group: string, learningRate: number): void {
    const entry = this.adam.get(group);
    if (!entry) throw new Error(`No parameter group '${group}'`);
    entry.optimizer.learningRate = learningRate;
  }

  /** A copy of the parameters and optimizer state. */
  state(): TrainerState {
    const optimizers: Record<string, AdamState> = {};
    for (const [group, { optimizer }] of this.adam) {
      optimizers[group] = { m: optimizer.state.m.slice(), v: optimizer.state.v.slice(), step: optimizer.state.step };
    }
    return { parameters: this.params.slice(), optimizers };
  }

  /** Takes this thread's replica's current variable values as the parameters (after loading weights into it). */
  loadParametersFromTrainable(): void {
    storeParameters(this.trainable, this.entries, this.params);
  }

  /** Restores what `state` returned (on a trainer of the same model), replicas included. */
  loadState(state: TrainerState): void {
    if (state.parameters.length !== this.total) throw new RangeError(`state has ${state.parameters.length} parameters, the model ${this.total}`);
    this.params.set(state.parameters);
    for (const [group, { optimizer }] of this.adam) {
      const saved = state.optimizers[group];
      if (!saved) throw new Error(`state has no optimizer for group '${group}'`);
      optimizer.load(saved);
    }
    loadParameters(this.trainable, this.entries, this.params);
  }

  static async create(options: DataParallelOptions): Promise<DataParallelTrainer> {
    const shards = options.workers ?? cpus().length;
    if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`workers must be a positive integer, got ${shards}`);
    const trainable = await loadTrainable(options.trainable, options.importer);
    for (const group of Object.keys(trainable.groups)) {
      if (!options.optimizers[group]) throw new Error(`No optimizer settings for parameter group '${group}'`);
    }
    const { entries, total } = layoutOf(trainable);
    const trainer = new DataParallelTrainer(trainable, entries, total, shards, options);
    storeParameters(trainable, entries, trainer.params);
    try {
      await Promise.all(Array.from({ length: shards - 1 }, (_, i) => trainer.startWorker(i + 1)));
    } catch (error) {
      await trainer.close();
      throw error;
    }
    return trainer;
  }

  private startWorker(slot: number): Promise<void> {
    const init: WorkerInit = {
      spec: this.options.trainable,
      params: this.params.buffer as SharedArrayBuffer,
      grads: this.grads.buffer as SharedArrayBuffer,
      slot,
      total: this.total,
      backend: this.options.backend,
    };
    const worker = new Worker(workerUrl, { workerData: init });
    worker.unref();
    this.workers.push(worker);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(this.fail(new TrainingWorkerError(`worker ${slot} was not ready within ${this.startTimeoutMs} ms`))), this.startTimeoutMs);
      worker.on('message', (m: { type: string; step: number; message?: string } & ShardResult) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (m.type === 'done') {
          const pending = this.pending.get(slot);
          if (pending?.step === m.step) pending.resolve(m);
        } else if (m.type === 'error') {
          clearTimeout(timer);
          const error = this.fail(new TrainingWorkerError(`worker ${slot} failed${m.step >= 0 ? ` at step ${m.step}` : ' to start'}: ${m.message}`));
          reject(error);
        }
      });
      worker.on('error', (error) => {
        clearTimeout(timer);
        reject(this.fail(new TrainingWorkerError(`worker ${slot} crashed: ${error.message}`, { cause: error })));
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        if (!this.closed) reject(this.fail(new TrainingWorkerError(`worker ${slot} exited unexpectedly with code ${code}`)));
      });
    });
  }

  private get startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? 120_000;
  }

  /** Marks the trainer broken, rejects every pending shard, stops the workers. */
  private fail(error: Error): Error {
    if (!this.broken) {
      this.broken = error;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
      void this.close();
    }
    return this.broken;
  }

  /**
   * One optimizer step on a batch [B, H, W, C] given as a flat float32 array, with one seed per
   * example. Shard k holds examples in a contiguous range; its gradients are weighted by its
   * share of B. A batch may also come in parts of different image sizes (e.g. photo crops and
   * larger scenes), its examples being the parts' in order; each shard must then lie within one
   * part (a RangeError otherwise).
   */
  async step(
    batch: BatchPart | readonly BatchPart[],
    seeds: readonly number[],
    stepIndex: number,
    extra: { sources?: readonly string[]; context?: Readonly<Record<string, number>> } = {},
  ): Promise<StepResult> {
    if (this.broken) throw this.broken;
    if (this.closed) throw new TrainingWorkerError('the trainer is closed');
    const parts = 'data' in batch ? [batch] : batch;
    const b = parts.reduce((n, p) => n + p.shape[0], 0);
    if (seeds.length !== b) throw new RangeError(`batch of ${b} examples but ${seeds.length} seeds`);
    if (extra.sources && extra.sources.length !== b) throw new RangeError(`batch of ${b} examples but ${extra.sources.length} sources`);
    if (b < this.shards) throw new RangeError(`batch of ${b} examples cannot be split across ${this.shards} workers`);
    const sizes = Array.from({ length: this.shards }, (_, k) => Math.floor(b / this.shards) + (k < b % this.shards ? 1 : 0));
    const starts = sizes.map((_, k) => sizes.slice(0, k).reduce((a, s) => a + s, 0));
    const shardData = starts.map((start, k) => partSlice(parts, start, sizes[k]!, k));

    const remote = sizes.slice(1).map((size, i) => {
      const slot = i + 1;
      const start = starts[slot]!;
      const { data, shape } = shardData[slot]!;
      const request: StepRequest = {
        type: 'step',
        step: stepIndex,
        data: data.slice(),
        shape,
        seeds: seeds.slice(start, start + size),
        sources: extra.sources?.slice(start, start + size),
        context: extra.context,
        weight: size / b,
      };
      const promise = new Promise<ShardResult>((resolve, reject) => {
        this.pending.set(slot, { step: stepIndex, resolve, reject });
        this.workers[i]!.postMessage(request, [request.data.buffer as ArrayBuffer]);
      });
      // a rejection also reaches the caller through `fail`; never leave it unhandled
      promise.catch(() => {});
      return promise;
    });

    const t0 = performance.now();
    const x = tf.tensor4d(shardData[0]!.data, shardData[0]!.shape);
    let local: ShardResult;
    try {
      local = computeShard(this.trainable, this.entries, { x, seeds: seeds.slice(0, sizes[0]!), step: stepIndex, sources: extra.sources?.slice(0, sizes[0]!), context: extra.context }, sizes[0]! / b, this.grads.subarray(0, this.total));
    } catch (error) {
      // the workers' shards of this step are now orphaned: the trainer cannot go on
      throw this.fail(new TrainingWorkerError(`step ${stepIndex} failed in the main thread: ${(error as Error).message}`, { cause: error }));
    } finally {
      x.dispose();
    }
    const t1 = performance.now();
    const results = [local, ...(await this.withTimeout(Promise.all(remote), stepIndex))];
    const t2 = performance.now();
    this.pending.clear();
    const gradientNorms = this.applyGradients();
    loadParameters(this.trainable, this.entries, this.params);
    const slowestWorkerMs = Math.max(0, ...results.slice(1).map((r) => r.computeMs ?? 0));
    return { ...combine(results), gradientNorms, timings: { shardMs: t1 - t0, waitMs: t2 - t1, updateMs: performance.now() - t2, slowestWorkerMs } };
  }

  private withTimeout<T>(promise: Promise<T>, stepIndex: number): Promise<T> {
    const ms = this.options.stepTimeoutMs ?? 600_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.fail(new TrainingWorkerError(`a worker did not finish step ${stepIndex} within ${ms} ms`))), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** Sums the shard slots and applies one Adam update per group to the shared parameters; returns each group's gradient norm. */
  private applyGradients(): Record<string, number> {
    const sum = this.grads.subarray(0, this.total);
    for (let k = 1; k < this.shards; k++) {
      const slot = this.grads.subarray(k * this.total, (k + 1) * this.total);
      for (let i = 0; i < this.total; i++) sum[i]! += slot[i]!;
    }
    const norms: Record<string, number> = {};
    for (const [group, { optimizer, start, end }] of this.adam) norms[group] = optimizer.update(this.params.subarray(start, end), sum.subarray(start, end));
    return norms;
  }

  /** Stops every worker; the trainer cannot step afterwards. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Examples [start, start + size) of a batch given in parts, as one shard (within one part). */
function partSlice(parts: readonly BatchPart[], start: number, size: number, shard: number): BatchPart {
  let first = 0;
  for (const { data, shape } of parts) {
    const [n, h, w, c] = shape;
    if (start < first + n) {
      if (start + size > first + n) throw new RangeError(`shard ${shard} (examples ${start}-${start + size - 1}) would mix images of different sizes: choose workers so that every shard lies within one part of the batch`);
      const per = h * w * c;
      return { data: data.subarray((start - first) * per, (start - first + size) * per), shape: [size, h, w, c] };
    }
    first += n;
  }
  throw new RangeError(`shard ${shard} starts at example ${start}, past the batch`);
}

/** Losses summed over the shards (each already weighted); each metric averaged over the shards that report it. */
export function combine(results: readonly ShardResult[]): Pick<ShardResult, 'losses' | 'metrics'> {
  const out: Pick<ShardResult, 'losses' | 'metrics'> = { losses: {}, metrics: {} };
  const weights: Record<string, number> = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(r.losses)) out.losses[k] = (out.losses[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.metrics)) {
      out.metrics[k] = (out.metrics[k] ?? 0) + v;
      weights[k] = (weights[k] ?? 0) + (r.metricWeights?.[k] ?? 0);
    }
  }
  for (const k of Object.keys(out.metrics)) if (weights[k]! > 0) out.metrics[k]! /= weights[k]!;
  return out;
}
