import type * as tf from '@tensorflow/tfjs-core';
import type { CodecV1, EncodedImage, GraphRunnerV1, OnnxCodingV1 } from '@lic-backdoor/core';
import { createSession, type OnnxSession } from './session.js';

/**
 * A learned codec run by onnxruntime-node: what the codec's `onnx()` gives (its graphs and its
 * coding around them), with one inference session per graph, created once and reused. Codec id,
 * weights hash and bitstreams are the codec's own, so streams written either way decode with the
 * other to the same 8-bit image.
 */
export class OrtCodec implements CodecV1 {
  readonly specificationVersion = 'v1';
  readonly learned = true;
  private readonly run: GraphRunnerV1;

  private constructor(
    readonly base: CodecV1,
    readonly coding: OnnxCodingV1,
    private readonly sessions: Record<string, OnnxSession>,
  ) {
    this.run = (graph, inputs) => {
      const session = this.sessions[graph];
      if (!session) throw new Error(`${base.id} runs graph '${graph}', which its onnx() did not export (${Object.keys(sessions).join(', ')})`);
      return session.run(inputs);
    };
  }

  /**
   * Sessions of the codec's graphs on `threads` intra-op threads (default: every core). Exact
   * graphs run with optimizations off and without a memory arena: their integer products' im2col
   * is the largest memory of a decode, and an arena keeps a session's peak for the process's life.
   * With `memoryArena` (default true) the float graphs keep theirs: g_a runs 10-15% faster, and
   * images are coded in tiles, so the peak is bounded; a process that also holds a second codec and
   * task backbones (`evaluate-attack`) passes false (with every float arena on it held 4.4 GB on 24
   * Kodak images and 5.3 GB on six 768-pixel people photos, against 2.65 and 3.77 GB without).
   */
  static async create(base: CodecV1, threads?: number, tile?: number, memoryArena = true): Promise<OrtCodec> {
    if (!base.onnx) throw new Error(`onnxruntime runs learned codecs whose plugin implements onnx() (bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean built in), not '${base.id}'`);
    const coding = base.onnx(tile === undefined ? {} : { tile });
    const sessions: Record<string, OnnxSession> = {};
    for (const [name, graph] of Object.entries(coding.graphs)) {
      const options = graph.exact ? { optimization: 'disabled' as const, memoryArena: false } : { memoryArena };
      sessions[name] = await createSession(graph.model, { ...(threads ? { threads } : {}), ...options });
    }
    return new OrtCodec(base, coding, sessions);
  }

  get id(): string {
    return this.base.id;
  }

  compress(image: tf.Tensor4D): Promise<EncodedImage> {
    return this.coding.compress(image, this.run);
  }

  decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    return this.coding.decompress(bytes, this.run);
  }

  /** Runs one of the codec's graphs (for tests and tools that look inside the coding). */
  graphRunner(): GraphRunnerV1 {
    return this.run;
  }

  dispose(): void {
    for (const s of Object.values(this.sessions)) void s.release();
    this.base.dispose();
  }
}

/** The exported ONNX graphs of a learned codec, by name (`export-onnx` writes them). */
export function exportCodecGraphs(codec: CodecV1): Record<string, Uint8Array> {
  if (!codec.onnx) throw new Error(`ONNX export needs a learned codec whose plugin implements onnx() (bmshj2018-factorized, bmshj2018-hyperprior and mbt2018-mean built in), not '${codec.id}'`);
  return Object.fromEntries(Object.entries(codec.onnx().graphs).map(([name, g]) => [name, g.model]));
}

/** The codec with its transforms run by onnxruntime-node (same bitstreams); `memoryArena` as in `OrtCodec.create`. */
export function ortCodec(codec: CodecV1, threads?: number, tile?: number, memoryArena = true): Promise<CodecV1> {
  return OrtCodec.create(codec, threads, tile, memoryArena);
}
