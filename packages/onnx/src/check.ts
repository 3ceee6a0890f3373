import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@lic-backdoor/core';
import { createSession } from './session.js';
import { importOnnx, withInputSize } from './tfjs-import.js';

/** What `onnx check` prints: how far the tfjs import is from onnxruntime on one seeded input. */
export interface OnnxCheck {
  model: string;
  input: number[];
  output: string;
  maxAbsDiff: number;
  /** max |tfjs - ort| / max |ort| over the first output. */
  maxRelDiff: number;
  ortMs: number;
  tfjsMs: number;
  executionProvider: string;
}

/** Runs onnxruntime-node and the tfjs import on the same seeded uniform [-1, 1) NCHW input. */
export async function checkOnnx(file: string, size?: [number, number], seed = 0): Promise<OnnxCheck> {
  let bytes: Uint8Array = new Uint8Array(await readFile(file));
  if (size) bytes = withInputSize(bytes, size[0], size[1]);
  const session = await createSession(bytes);
  const graph = importOnnx(bytes);
  try {
    const name = graph.inputNames[0]!;
    const dims = graph.inputShapes[name]!.map((d) => (d > 0 ? d : 1));
    if (size && dims.length === 4) [dims[2], dims[3]] = size;
    const data = createRng(seed).uniformArray(dims.reduce((a, b) => a * b, 1), -1, 1);
    let t = performance.now();
    const ref = await session.run({ [name]: { data, dims } });
    const ortMs = performance.now() - t;
    const output = session.outputNames[0]!;
    t = performance.now();
    const out = tf.tidy(() => graph.run({ [name]: tf.tensor(data, dims) })[output]!);
    const ours = await out.data();
    const tfjsMs = performance.now() - t;
    out.dispose();
    const expected = ref[output]!.data;
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = 0; i < expected.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(ours[i]! - expected[i]!));
      maxRef = Math.max(maxRef, Math.abs(expected[i]!));
    }
    return { model: file, input: dims, output, maxAbsDiff: maxAbs, maxRelDiff: maxAbs / maxRef, ortMs, tfjsMs, executionProvider: session.executionProvider };
  } finally {
    graph.dispose();
    await session.release();
  }
}
