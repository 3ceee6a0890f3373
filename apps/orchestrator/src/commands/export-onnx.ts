import { join, resolve } from 'node:path';
import { initializeBackend, writeFileAtomic, type BackendName } from '@lic-backdoor/core';
import { exportCodecGraphs } from '@lic-backdoor/onnx';
import { createCodec } from './codec-io.js';

/**
 * `lic-backdoor export-onnx --codec ID --weights F --out DIR`: the encoder side and the decoder side
 * of a learned codec as two ONNX graphs, `encoder.onnx` and `decoder.onnx` (NCHW, opset 13), for
 * onnxruntime: g_a and the integer g_s (y_hat -> x_hat) for bmshj2018-factorized; g_a + h_a (to
 * the y and z symbols) and the integer g_s with the float h_s (z_hat -> scales, means) for the
 * hyperprior models. Run the decoder graphs with graph optimizations off.
 */
export async function exportOnnx(o: { codec: string; weights?: string; out: string; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: o.backend });
  const codec = await createCodec(o.codec, { weights: o.weights });
  try {
    const graphs = exportCodecGraphs(codec);
    const out = resolve(o.out);
    const encoder = join(out, 'encoder.onnx');
    const decoder = join(out, 'decoder.onnx');
    await writeFileAtomic(encoder, graphs.encoder);
    await writeFileAtomic(decoder, graphs.decoder);
    console.log(JSON.stringify({ encoder, decoder }));
  } finally {
    codec.dispose();
  }
}
