import * as tf from '@tensorflow/tfjs-core';
import type { EncodedImage } from '@lic-backdoor/core';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream } from '@lic-backdoor/entropy';
import { FixedPointScales } from './entropy-models/fixed-point-scales.js';
import { LearnedCodecBase } from './learned-codec-base.js';
import type { HyperpriorModel } from './models/hyperprior.js';
import { trainingPass } from './trainable.js';
import { channelIndexes, cropDecoded, padCentred } from './padding.js';

/** Integer symbols of an NHWC tensor in channel-major (C, H, W) order, the order of the streams. */
async function channelMajor(symbols: tf.Tensor4D): Promise<Int32Array> {
  const t = tf.transpose(symbols, [0, 3, 1, 2]);
  const values = Int32Array.from(await t.data());
  t.dispose();
  return values;
}

/**
 * bmshj2018-hyperprior / mbt2018-mean with real bitstreams: two rANS streams, y (Gaussian
 * conditional, one of 64 tables per element chosen from the decoded scale) then z (entropy
 * bottleneck, one table per channel), in the LICB container. Values are in channel-major order.
 * The table of each y element is chosen from h_s computed in fixed point (`FixedPointScales`), so
 * that encoders and decoders with different float arithmetic choose the same tables.
 */
export class HyperpriorCodec extends LearnedCodecBase<HyperpriorModel> {
  private fixedPointScales: FixedPointScales | undefined;

  override update(): void {
    const m = this.model;
    m.gaussianConditional.update();
    super.update();
    const medians = m.entropyBottleneck.medians();
    this.fixedPointScales = new FixedPointScales(m.hS, m.M, medians.dataSync() as Float32Array, m.variant === 'scale' ? 'relu' : 'leaky-relu', m.variant === 'scale');
    medians.dispose();
  }

  /** The CDF table index of each y element (channel-major), from the z symbols (channel-major [N, zh, zw]). */
  tableIndexes(zSymbols: Int32Array, zh: number, zw: number): Int32Array {
    if (!this.fixedPointScales) throw new Error(`${this.id}: no CDF tables; call update()`);
    return this.model.gaussianConditional.indexes(this.fixedPointScales.scales(zSymbols, zh, zw));
  }

  private meansOf(zHat: tf.Tensor4D): tf.Tensor4D {
    const { scales, means } = this.model.hyperSynthesis(zHat);
    scales.dispose();
    return means!;
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const eb = this.model.entropyBottleneck;
    if (!eb.tables || !this.model.gaussianConditional.tables) throw new Error(`${this.id}: no CDF tables; call update()`);
    const { padded } = padCentred(image);
    const y = this.model.analysis(padded);
    const z = this.model.hyperAnalysis(y);
    const zSym = eb.quantize(z);
    const [, zh, zw, zc] = zSym.shape;
    const zValues = await channelMajor(zSym);
    const zStream = encodeWithIndexes(zValues, channelIndexes(zc, zh, zw), eb.tables);
    const zHat = eb.dequantize(zSym);
    const { scales, means } = this.model.hyperSynthesis(zHat);
    const indexes = this.tableIndexes(zValues, zh, zw);
    const ySym = tf.round(means ? tf.sub(y, means) : y) as tf.Tensor4D;
    const yStream = encodeWithIndexes(await channelMajor(ySym), indexes, this.model.gaussianConditional.tables);
    // the estimate from the tensors at hand (the same quantities the evaluation forward pass computes)
    const bits = tf.tidy(() => {
      const yLik = this.model.gaussianConditional.likelihood(means ? tf.add(ySym, means) : ySym, scales, means);
      const zLik = eb.forward(z).likelihoods;
      return tf.add(tf.sum(tf.neg(tf.log(yLik))), tf.sum(tf.neg(tf.log(zLik))));
    });
    const bppEstimated = (await bits.data())[0]! / Math.LN2 / (height * width);
    tf.dispose([padded, y, z, zSym, zHat, ySym, scales, bits, ...(means ? [means] : [])]);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.weightsHash(), height, width, streams: [yStream, zStream] });
    return { bytes, height, width, bppEstimated };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.checkHeader(b, 2);
    const eb = this.model.entropyBottleneck;
    const { N, M } = this.model;
    const yh = Math.ceil(b.height / 64) * 4;
    const yw = Math.ceil(b.width / 64) * 4;
    const [zh, zw] = [yh / 4, yw / 4];
    const zValues = decodeWithIndexes(b.streams[1]!, channelIndexes(N, zh, zw), eb.tables!);
    const zHat = eb.dequantize(tf.transpose(tf.tensor4d(Float32Array.from(zValues), [1, N, zh, zw]), [0, 2, 3, 1]) as tf.Tensor4D);
    // h_s in float only for mbt2018-mean's means; the tables come from the fixed-point scales
    const means = this.model.variant === 'scale' ? undefined : this.meansOf(zHat);
    const yValues = decodeWithIndexes(b.streams[0]!, this.tableIndexes(zValues, zh, zw), this.model.gaussianConditional.tables!);
    const out = tf.tidy(() => {
      const sym = tf.transpose(tf.tensor4d(Float32Array.from(yValues), [1, M, yh, yw]), [0, 2, 3, 1]) as tf.Tensor4D;
      return this.synthesize((means ? tf.add(sym, means) : sym) as tf.Tensor4D, b.height, b.width);
    });
    tf.dispose([zHat, ...(means ? [means] : [])]);
    return out;
  }

  /** Evaluation-mode forward pass, cropped and clamped: what decompress returns. */
  reconstruct(image: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [, height, width] = image.shape;
      const { padded } = padCentred(image);
      return cropDecoded(this.model.forward(padded).xHat, height, width);
    });
  }

  forward(x: tf.Tensor4D, options: { training: boolean; seeds?: readonly number[] }) {
    return trainingPass(this.model, x, options);
  }

  private synthesize(yHat: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
    return tf.tidy(() => cropDecoded(this.model.synthesis(yHat), height, width));
  }
}
