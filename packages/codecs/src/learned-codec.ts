import * as tf from '@tensorflow/tfjs-core';
import type { CodecV1, EncodedImage } from '@lic-backdoor/core';
import { BitstreamError, decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream } from '@lic-backdoor/entropy';
import type { FactorizedPrior } from './models/factorized.js';
import { cropTo, padCentred } from './padding.js';

const LATENT_STRIDE = 16;

/**
 * A learned codec with real bitstreams: pads to a multiple of 64, encodes the rounded latent with
 * rANS under the entropy bottleneck's CDF tables (values in channel-major order, one table per
 * channel), and wraps the stream in the lic-backdoor container with the decoder-weights hash.
 */
export class FactorizedCodec implements CodecV1 {
  readonly specificationVersion = 'v1';
  readonly learned = true;
  private hash: Uint8Array | undefined;

  constructor(
    readonly id: string,
    readonly model: FactorizedPrior,
  ) {}

  /** Rebuilds the CDF tables from the current parameters (after training or loading weights without tables). */
  update(): void {
    this.model.entropyBottleneck.update();
    this.hash = undefined;
  }

  /** Hash of the decoder-side weights that bitstreams carry. */
  weightsHash(): Uint8Array {
    this.hash ??= this.model.decoderHash();
    return this.hash;
  }

  private tables() {
    const tables = this.model.entropyBottleneck.tables;
    if (!tables) throw new Error(`${this.id}: no CDF tables; load weights that have them or call update()`);
    return tables;
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const tables = this.tables();
    const { symbols, bits } = tf.tidy(() => {
      const { padded } = padCentred(image);
      const y = this.model.analysis(padded);
      const { likelihoods } = this.model.entropyBottleneck.forward(y);
      const q = this.model.entropyBottleneck.quantize(y);
      return { symbols: tf.transpose(q, [0, 3, 1, 2]), bits: tf.div(tf.sum(tf.neg(tf.log(likelihoods))), Math.LN2) };
    });
    const [, c, h, w] = symbols.shape;
    const values = Int32Array.from(await symbols.data());
    const indexes = new Int32Array(values.length);
    for (let ch = 0; ch < c; ch++) indexes.fill(ch, ch * h * w, (ch + 1) * h * w);
    const stream = encodeWithIndexes(values, indexes, tables);
    const bppEstimated = (await bits.data())[0]! / (height * width);
    tf.dispose([symbols, bits]);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.weightsHash(), height, width, streams: [stream] });
    return { bytes, height, width, bppEstimated };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    if (b.codecId !== this.id) throw new BitstreamError(`bitstream was written by '${b.codecId}', not '${this.id}'`);
    if (!equal(b.weightsHash, this.weightsHash())) throw new BitstreamError('bitstream was written for other decoder weights (weights hash differs)');
    if (b.streams.length !== 1) throw new BitstreamError(`expected 1 stream, found ${b.streams.length}`);
    const tables = this.tables();
    const h = Math.ceil(b.height / 64) * (64 / LATENT_STRIDE);
    const w = Math.ceil(b.width / 64) * (64 / LATENT_STRIDE);
    const c = this.model.M;
    const indexes = new Int32Array(c * h * w);
    for (let ch = 0; ch < c; ch++) indexes.fill(ch, ch * h * w, (ch + 1) * h * w);
    const values = decodeWithIndexes(b.streams[0]!, indexes, tables);
    return tf.tidy(() => {
      const symbols = tf.transpose(tf.tensor4d(Float32Array.from(values), [1, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
      return this.synthesize(this.model.entropyBottleneck.dequantize(symbols), b.height, b.width);
    });
  }

  /** The evaluation-mode forward pass (rounded latents), cropped and clamped: what decompress returns. */
  reconstruct(image: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [, height, width] = image.shape;
      const { padded } = padCentred(image);
      const y = this.model.analysis(padded);
      return this.synthesize(this.model.entropyBottleneck.dequantize(this.model.entropyBottleneck.quantize(y)), height, width);
    });
  }

  private synthesize(yHat: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
    return tf.tidy(() => {
      const xHat = this.model.synthesis(yHat);
      const ph = Math.ceil(height / 64) * 64;
      const pw = Math.ceil(width / 64) * 64;
      return tf.clipByValue(cropTo(xHat, Math.floor((ph - height) / 2), Math.floor((pw - width) / 2), height, width), 0, 1) as tf.Tensor4D;
    });
  }

  forward(x: tf.Tensor4D, options: { training: boolean; noise?: tf.Tensor }) {
    return this.model.forward(x, options.training ? (options.noise ?? tf.randomUniform([x.shape[0], x.shape[1] / 16, x.shape[2] / 16, this.model.M], -0.5, 0.5)) : undefined);
  }

  parameters() {
    const eb = this.model.entropyBottleneck;
    return { encoder: this.model.encoderVariables(), decoder: this.model.decoderVariables(), entropy: eb.densityVariables(), quantiles: [eb.quantiles] };
  }

  auxLoss(): tf.Scalar {
    return this.model.entropyBottleneck.auxLoss();
  }

  dispose(): void {
    this.model.dispose();
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
