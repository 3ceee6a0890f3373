import * as tf from '@tensorflow/tfjs-core';
import type { EncodedImage, OnnxCodingV1 } from '@lic-backdoor/core';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream } from '@lic-backdoor/entropy';
import { LearnedCodecBase } from './learned-codec-base.js';
import type { FactorizedPrior } from './models/factorized.js';
import { trainingPass } from './trainable.js';
import { channelIndexes, dequantizeSymbols, padCentred } from './padding.js';
import { factorizedOnnxCoding } from './onnx/coding.js';

const LATENT_STRIDE = 16;

/**
 * A learned codec with real bitstreams: pads to a multiple of 64, encodes the rounded latent with
 * rANS under the entropy bottleneck's CDF tables (values in channel-major order, one table per
 * channel), and wraps the stream in the lic-backdoor container with the decoder-weights hash.
 */
export class FactorizedCodec extends LearnedCodecBase<FactorizedPrior> {
  private tables() {
    const tables = this.model.entropyBottleneck.tables;
    if (!tables) throw new Error(`${this.id}: no CDF tables; load weights that have them or call update()`);
    return tables;
  }

  /** Its transforms as ONNX graphs and its coding around them, for onnxruntime (`CodecV1.onnx`). */
  onnx(options: { tile?: number } = {}): OnnxCodingV1 {
    return factorizedOnnxCoding(this, options.tile);
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
    const stream = encodeWithIndexes(values, channelIndexes(c, h, w), tables);
    const bppEstimated = (await bits.data())[0]! / (height * width);
    tf.dispose([symbols, bits]);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.weightsHash(), height, width, streams: [stream] });
    return { bytes, height, width, bppEstimated };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.checkHeader(b, 1);
    const tables = this.tables();
    const h = Math.ceil(b.height / 64) * (64 / LATENT_STRIDE);
    const w = Math.ceil(b.width / 64) * (64 / LATENT_STRIDE);
    const c = this.model.M;
    const values = decodeWithIndexes(b.streams[0]!, channelIndexes(c, h, w), tables);
    return this.synthesize(dequantizeSymbols(values, this.medians(), c, h, w), c, h, w, b.height, b.width);
  }

  /** The evaluation-mode forward pass (rounded latents, the integer g_s), cropped and clamped: what decompress returns. */
  reconstruct(image: tf.Tensor4D): tf.Tensor4D {
    const [, height, width] = image.shape;
    const symbols = tf.tidy(() => tf.transpose(this.model.entropyBottleneck.quantize(this.model.analysis(padCentred(image).padded)), [0, 3, 1, 2]));
    const [, c, h, w] = symbols.shape;
    const values = Int32Array.from(symbols.dataSync());
    symbols.dispose();
    return this.synthesize(dequantizeSymbols(values, this.medians(), c, h, w), c, h, w, height, width);
  }

  forward(x: tf.Tensor4D, options: { training: boolean; seeds?: readonly number[] }) {
    return trainingPass(this.model, x, options);
  }
}
