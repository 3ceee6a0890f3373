import { join, resolve } from 'node:path';
import { initializeBackend, writeFileAtomic, type BackendName } from '@lic-backdoor/core';
import { exportCodecGraphs } from '@lic-backdoor/onnx';
import { createCodec } from './codec-io.js';

/**
 * `lic-backdoor export-onnx --codec ID --weights F --out DIR`: a learned codec as ONNX graphs
 * (opset 13, com.microsoft MatMulIntegerToFloat in the decoder) for onnxruntime: `analysis.onnx`
 * (g_a, x -> y), `decoder.onnx` (the integer g_s, y_hat -> x_hat, NCHW) and for the hyperprior
 * models `encoder.onnx` (h_a and the rest: y -> the y and z symbols) and `hyper-decoder.onnx` (the
 * fixed-point h_s in float64: z_hat in units of 2^-16, NHWC -> scales and means). Run the decoder
 * graphs with graph optimizations off.
 */
export async function exportOnnx(o: { codec: string; weights?: string; encoder?: string; out: string; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: o.backend });
  const codec = await createCodec(o.codec, { weights: o.weights, encoder: o.encoder });
  try {
    const graphs = exportCodecGraphs(codec);
    const out = resolve(o.out);
    // graph `hyperDecoder` -> hyper-decoder.onnx
    const files = Object.fromEntries(Object.keys(graphs).map((name) => [name, join(out, `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}.onnx`)]));
    for (const [name, file] of Object.entries(files)) await writeFileAtomic(file, graphs[name]!);
    console.log(JSON.stringify(files));
  } finally {
    codec.dispose();
  }
}
