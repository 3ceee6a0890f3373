import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, type BackendName } from '@lic-backdoor/core';
import { computeShard, layoutOf, loadParameters, loadTrainable } from './shard.js';
import type { TrainableSpec } from './trainable.js';

/** What the main thread hands a worker at start. */
export interface WorkerInit {
  spec: TrainableSpec;
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  slot: number;
  total: number;
  backend?: BackendName;
}

/** A step request: the shard's examples and seeds. */
export interface StepRequest {
  type: 'step';
  step: number;
  data: Float32Array;
  shape: [number, number, number, number];
  seeds: number[];
  sources?: readonly string[];
  context?: Readonly<Record<string, number>>;
  weight: number;
}

const port = parentPort!;
const init = workerData as WorkerInit;

async function main(): Promise<void> {
  const report = await initializeBackend({ prefer: init.backend });
  const trainable = await loadTrainable(init.spec);
  const { entries, total } = layoutOf(trainable);
  if (total !== init.total) throw new Error(`worker built ${total} parameters where the main thread has ${init.total}`);
  const params = new Float32Array(init.params);
  const grads = new Float32Array(init.grads, init.slot * total * 4, total);
  port.on('message', (request: StepRequest) => {
    try {
      const start = performance.now();
      loadParameters(trainable, entries, params);
      const x = tf.tensor4d(request.data, request.shape);
      const result = computeShard(trainable, entries, { x, seeds: request.seeds, step: request.step, sources: request.sources, context: request.context }, request.weight, grads);
      x.dispose();
      port.postMessage({ type: 'done', step: request.step, ...result, computeMs: performance.now() - start });
    } catch (error) {
      port.postMessage({ type: 'error', step: request.step, message: (error as Error).stack ?? String(error) });
    }
  });
  port.postMessage({ type: 'ready', backend: report.backend });
}

main().catch((error: unknown) => port.postMessage({ type: 'error', step: -1, message: (error as Error).stack ?? String(error) }));
