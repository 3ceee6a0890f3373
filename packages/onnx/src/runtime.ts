import type { CodecV1 } from '@lic-backdoor/core';
import { ortCodec } from './ort-codec.js';

/** Where a learned codec's transforms run when it codes real bitstreams. */
export type Runtime = 'onnx' | 'tfjs';
export const RUNTIMES: readonly Runtime[] = ['onnx', 'tfjs'];

/**
 * The codec as it codes in `runtime`: a learned codec through onnxruntime-node on every core by
 * default (its exported graphs; the same bitstream format and the same decoded 8-bit images as
 * tfjs), tfjs on request; classical codecs, and learned ones that export no graphs (no `onnx()`), as they are.
 * `memoryArena: false` for processes that hold more than one codec or backbones (see `OrtCodec.create`).
 */
export async function codingCodec(codec: CodecV1, runtime: Runtime = 'onnx', options: { memoryArena?: boolean } = {}): Promise<CodecV1> {
  return runtime === 'onnx' && codec.onnx ? ortCodec(codec, undefined, undefined, options.memoryArena) : codec;
}
