import * as tf from '@tensorflow/tfjs-core';
import type { CodecV1, EncodedImage } from '@lic-backdoor/core';
import { BitstreamError, type Bitstream } from '@lic-backdoor/entropy';
import type { EntropyBottleneck } from './entropy-models/entropy-bottleneck.js';
import { planIntegerSynthesis, runIntegerSynthesis, type IntegerSynthesisPlan } from './layers/integer-synthesis.js';
import type { Transform } from './models/factorized.js';
import { cropDecoded } from './padding.js';
import type { StateDict, StateTensor } from './models/state-dict.js';

function tensorOf(t: StateTensor): tf.Tensor {
  return t.data instanceof Int32Array ? tf.tensor(t.data, t.shape, 'int32') : tf.tensor(t.data, t.shape, 'float32');
}

/** What every learned model offers the codec wrapper. */
export interface LearnedModel {
  readonly entropyBottleneck: EntropyBottleneck;
  /** The synthesis transform g_s. */
  readonly gS: Transform;
  analysis(x: tf.Tensor4D): tf.Tensor4D;
  encoderVariables(): tf.Variable[];
  /** Hyperprior models: h_a's variables (also in encoderVariables). */
  hyperEncoderVariables?(): tf.Variable[];
  decoderVariables(): tf.Variable[];
  decoderHash(): Uint8Array;
  stateDict(): StateDict;
  /** Loads a CompressAI-layout state dict (throws naming every missing or misshapen key). */
  loadStateDict(state: StateDict): void;
  dispose(): void;
}

/**
 * Largest image a learned codec decodes by default, in megapixels: a header is only a claim, and a
 * 229-byte stream may claim 60000 x 60000 pixels, whose symbol tables alone take gigabytes before
 * the first symbol is read. 64 megapixels (e.g. 8192 x 8192) covers camera photos (24 MP took about
 * 3 GB to decode here); the codec option `maxMegapixels` raises or lowers it.
 */
export const MAX_DECODE_MEGAPIXELS = 64;

/** The members learned codecs share: weights hash, header checks, parameter groups, auxiliary loss. */
export abstract class LearnedCodecBase<Model extends LearnedModel> implements CodecV1 {
  readonly specificationVersion = 'v1';
  readonly learned = true;
  /** Streams whose header claims more pixels than this (in megapixels) are refused before any allocation. */
  maxMegapixels = MAX_DECODE_MEGAPIXELS;
  private hash: Uint8Array | undefined;
  private plan: IntegerSynthesisPlan | undefined;

  constructor(
    readonly id: string,
    readonly model: Model,
  ) {}

  abstract compress(image: tf.Tensor4D): Promise<EncodedImage>;
  abstract decompress(bytes: Uint8Array): Promise<tf.Tensor4D>;

  /** Rebuilds the CDF tables from the current parameters. */
  update(): void {
    this.model.entropyBottleneck.update();
    this.hash = undefined;
    this.plan = undefined;
  }

  /** g_s planned for integer arithmetic from the current weights (rebuilt after `update`). */
  integerSynthesis(): IntegerSynthesisPlan {
    this.plan ??= planIntegerSynthesis(this.model.gS);
    return this.plan;
  }

  /**
   * The decoder's image from y_hat (NCHW data from `dequantizeSymbols`): g_s in integer arithmetic,
   * so that every runtime decodes a stream to the same 8-bit image, cropped and clamped.
   */
  protected synthesize(yHat: Float32Array, c: number, h: number, w: number, height: number, width: number): tf.Tensor4D {
    return tf.tidy(() => {
      const nhwc = tf.transpose(tf.tensor4d(yHat, [1, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
      return cropDecoded(runIntegerSynthesis(this.integerSynthesis(), nhwc), height, width);
    });
  }

  /** The entropy bottleneck's medians, one per channel. */
  medians(): Float32Array {
    const m = this.model.entropyBottleneck.medians();
    const data = m.dataSync() as Float32Array;
    m.dispose();
    return data;
  }

  /** Hash of the decoder-side weights that bitstreams carry. */
  weightsHash(): Uint8Array {
    this.hash ??= this.model.decoderHash();
    return this.hash;
  }

  /** Throws unless the stream was written by this codec with these decoder weights, has `streams` streams and claims at most `maxMegapixels`. */
  checkHeader(b: Bitstream, streams: number): void {
    if (b.codecId !== this.id) throw new BitstreamError(`bitstream was written by '${b.codecId}', not '${this.id}'`);
    const mine = this.weightsHash();
    if (b.weightsHash.length !== mine.length || b.weightsHash.some((v, i) => v !== mine[i])) {
      throw new BitstreamError('bitstream was written for other decoder weights (weights hash differs)');
    }
    if (b.streams.length !== streams) throw new BitstreamError(`expected ${streams} stream(s), found ${b.streams.length}`);
    const megapixels = (b.height * b.width) / 1e6;
    if (megapixels > this.maxMegapixels) {
      throw new BitstreamError(`bitstream claims ${b.width} x ${b.height} pixels (${megapixels.toFixed(1)} megapixels), above this decoder's limit of ${this.maxMegapixels} (the codec option maxMegapixels, --max-megapixels)`);
    }
  }

  parameters() {
    const eb = this.model.entropyBottleneck;
    const hyperEncoder = this.model.hyperEncoderVariables?.();
    return { encoder: this.model.encoderVariables(), decoder: this.model.decoderVariables(), entropy: eb.densityVariables(), quantiles: [eb.quantiles], ...(hyperEncoder && { hyperEncoder }) };
  }

  analysis(x: tf.Tensor4D): tf.Tensor4D {
    return this.model.analysis(x);
  }

  /** The model's state dict (CompressAI names, PyTorch layouts) as new tensors the caller disposes. */
  stateDict(): Record<string, tf.Tensor> {
    const state = this.model.stateDict();
    return Object.fromEntries(Object.entries(state).map(([k, t]) => [k, tensorOf(t)]));
  }

  auxLoss(): tf.Scalar {
    return this.model.entropyBottleneck.auxLoss();
  }

  dispose(): void {
    this.model.dispose();
  }
}
