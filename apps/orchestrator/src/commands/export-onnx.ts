import { join, resolve } from 'node:path';
import { initializeBackend, writeFileAtomic, type BackendName } from '@lic-backdoor/core';
import { FactorizedCodec, transformToOnnx } from '@lic-backdoor/codecs';
import { createCodec } from './codec-io.js';

/**
 * `lic-backdoor export-onnx --codec ID --weights F --out DIR`: the encoder side (g_a) and the
 * decoder side (g_s) as two ONNX graphs, `encoder.onnx` (x -> y) and `decoder.onnx` (y_hat -> x_hat),
 * NCHW, for onnxruntime. Today: bmshj2018-factorized.
 */
export async function exportOnnx(o: { codec: string; weights?: string; out: string; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: o.backend });
  const codec = await createCodec(o.codec, { weights: o.weights });
  if (!(codec instanceof FactorizedCodec)) throw new Error(`export-onnx supports codec:bmshj2018-factorized so far, not '${codec.id}'`);
  const out = resolve(o.out);
  const encoder = join(out, 'encoder.onnx');
  const decoder = join(out, 'decoder.onnx');
  await writeFileAtomic(encoder, transformToOnnx(codec.model.gA, false, { input: 'x', output: 'y' }));
  await writeFileAtomic(decoder, transformToOnnx(codec.model.gS, true, { input: 'x', output: 'y' }));
  codec.dispose();
  console.log(JSON.stringify({ encoder, decoder }));
}
