import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@lic-backdoor/core';
import { createSession } from './session.js';
import { importOnnx, toFloat32, withInputSize } from './tfjs-import.js';

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
  /**
   * Set when the model holds float16 tensors (onnxruntime then computes at half precision): the
   * differences against onnxruntime on the model's float32 copy (`toFloat32`), the reference at the
   * import's own precision.
   */
  float32Reference?: { maxAbsDiff: number; maxRelDiff: number };
}

/** max |a - b| and that over max |b|. */
function differences(ours: ArrayLike<number>, expected: ArrayLike<number>): { maxAbsDiff: number; maxRelDiff: number } {
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ours[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return { maxAbsDiff: maxAbs, maxRelDiff: maxAbs / maxRef };
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
    const result: OnnxCheck = { model: file, input: dims, output, ...differences(ours, ref[output]!.data), ortMs, tfjsMs, executionProvider: session.executionProvider };
    const float32 = toFloat32(bytes);
    if (float32.upcast > 0) {
      const session32 = await createSession(float32.bytes);
      try {
        result.float32Reference = differences(ours, (await session32.run({ [name]: { data, dims } }))[output]!.data);
      } finally {
        await session32.release();
      }
    }
    return result;
  } finally {
    graph.dispose();
    await session.release();
  }
}
