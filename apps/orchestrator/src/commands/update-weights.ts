import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { initializeBackend, type BackendName } from '@lic-backdoor/core';
import { halfRounded, LearnedCodecBase, readStateDict, writeStateDict, type LearnedModel } from '@lic-backdoor/codecs';
import { createCodec } from './codec-io.js';

/**
 * `lic-backdoor update-weights --codec ID --weights IN -o OUT [--half]`: CompressAI's `update()`
 * for weights made elsewhere (a CompressAI checkpoint saved as safetensors, apps/bench/torch's
 * reference trainer). It loads IN into the codec, builds the entropy bottleneck's integer CDF
 * tables from its density and quantiles, and writes OUT with them, so that every runtime codes
 * with the same tables. IN may use either CompressAI spelling of the entropy bottleneck's keys
 * (`matrices.<i>` since 1.2.6, `_matrix<i>` before; printed as `key_convention`); OUT has the current one. `--half` first rounds every parameter to float16 and stores it so (half
 * the file; buffers stay float32); the tables are built from the rounded values, which the codec
 * then runs on.
 */
export async function updateWeights(o: { codec: string; weights: string; output: string; half?: boolean; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: o.backend });
  const codec = await createCodec(o.codec, { weights: o.weights });
  try {
    if (!(codec instanceof LearnedCodecBase)) throw new Error(`update-weights: '${o.codec}' is not a learned codec`);
    const learned = codec as LearnedCodecBase<LearnedModel>;
    if (o.half) learned.model.loadStateDict(halfRounded(learned.model.stateDict()));
    learned.update();
    const { metadata, convention } = await readStateDict(resolve(o.weights));
    await writeStateDict(o.output, learned.model.stateDict(), { ...metadata, format: 'pt', updated_from: o.weights, ...(o.half ? { dtype: 'float16' } : {}) }, { half: o.half });
    const bytes = (await stat(o.output)).size;
    // key_convention: the CompressAI names IN used (OUT always has the current ones)
    console.log(JSON.stringify({ output: o.output, bytes, half: o.half === true, decoder_hash: Buffer.from(learned.weightsHash()).toString('hex'), key_convention: convention }));
  } finally {
    codec.dispose();
  }
}
