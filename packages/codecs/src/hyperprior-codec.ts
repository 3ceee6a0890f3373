import * as tf from '@tensorflow/tfjs-core';
import type { EncodedImage } from '@lic-backdoor/core';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream, type Bitstream, type CdfTables } from '@lic-backdoor/entropy';
import { FixedPointHyperSynthesis } from './entropy-models/fixed-point-hyper-synthesis.js';
import { LearnedCodecBase } from './learned-codec-base.js';
import type { HyperpriorModel } from './models/hyperprior.js';
import { trainingPass } from './trainable.js';
import { channelIndexes, dequantizeSymbols, padCentred } from './padding.js';
import { hyperpriorOnnxCoding, type HyperpriorOnnxCoding } from './onnx/coding.js';

/** The fixed-point h_s's result: scales and (mbt2018-mean) means, channel-major. */
export type { HyperOutput } from './entropy-models/fixed-point-hyper-synthesis.js';
import type { HyperOutput } from './entropy-models/fixed-point-hyper-synthesis.js';

/**
 * bmshj2018-hyperprior / mbt2018-mean with real bitstreams: two rANS streams, y (Gaussian
 * conditional, one of 64 tables per element chosen from the decoded scale) then z (entropy
 * bottleneck, one table per channel), in the LICB container. Values are in channel-major order.
 * h_s runs in fixed point (`FixedPointHyperSynthesis`) for the table of each y element and, for
 * mbt2018-mean, the means, and g_s in integer arithmetic, so that encoders and decoders with
 * different float arithmetic choose the same tables and decode the same 8-bit image.
 */
export class HyperpriorCodec extends LearnedCodecBase<HyperpriorModel> {
  private fixedPoint: FixedPointHyperSynthesis | undefined;

  override update(): void {
    this.model.gaussianConditional.update();
    super.update();
    this.fixedPoint = undefined;
  }

  /**
   * The CDF tables of z (the entropy bottleneck's, from the weights or `update`) and of y (the
   * Gaussian conditional's, a fixed function of its scale table, made on first use).
   */
  tables(): { z: CdfTables; y: CdfTables } {
    const m = this.model;
    if (!m.entropyBottleneck.tables) throw new Error(`${this.id}: no CDF tables; load weights that have them or call update()`);
    if (!m.gaussianConditional.tables) m.gaussianConditional.update();
    return { z: m.entropyBottleneck.tables, y: m.gaussianConditional.tables! };
  }

  /** h_s in fixed point, made from the current weights on first use. */
  fixedPointHyperSynthesis(): FixedPointHyperSynthesis {
    const m = this.model;
    this.fixedPoint ??= new FixedPointHyperSynthesis(m.hS, m.M, this.medians(), m.variant === 'scale' ? 'relu' : 'leaky-relu', m.variant === 'scale', m.variant === 'mean-scale');
    return this.fixedPoint;
  }

  /**
   * From the z symbols (channel-major [N, zh, zw]): the CDF table index of each y element and the
   * offset that y_hat = symbols + offset adds (the means of mbt2018-mean, else 0), channel-major,
   * from h_s in fixed point (`hyper`, another exact implementation's result, or `run`'s).
   */
  hyperLatents(zSymbols: Int32Array, zh: number, zw: number, hyper?: HyperOutput): { indexes: Int32Array; offsets: Float32Array } {
    const { scales, means } = hyper ?? this.fixedPointHyperSynthesis().run(zSymbols, zh, zw);
    return { indexes: this.model.gaussianConditional.indexes(scales), offsets: means ? Float32Array.from(means) : new Float32Array(scales.length) };
  }

  /** z symbols (channel-major) of a padded image's z, with y. */
  private latents(padded: tf.Tensor4D): { y: tf.Tensor4D; z: tf.Tensor4D; zValues: Int32Array; zShape: [number, number, number] } {
    const y = this.model.analysis(padded);
    const z = this.model.hyperAnalysis(y);
    const zSym = tf.tidy(() => tf.transpose(this.model.entropyBottleneck.quantize(z), [0, 3, 1, 2]));
    const [, zc, zh, zw] = zSym.shape;
    const zValues = Int32Array.from(zSym.dataSync());
    zSym.dispose();
    return { y, z, zValues, zShape: [zc, zh, zw] };
  }

  /** round(y - offset), channel-major. */
  private ySymbols(y: tf.Tensor4D, offsets: Float32Array): Int32Array {
    const [, yh, yw, c] = y.shape;
    return tf.tidy(() => Int32Array.from(tf.round(tf.sub(tf.transpose(y, [0, 3, 1, 2]), tf.tensor4d(offsets, [1, c, yh, yw]))).dataSync()));
  }

  /** Its transforms as ONNX graphs and its coding around them, for onnxruntime (`CodecV1.onnx`). */
  onnx(options: { tile?: number } = {}): HyperpriorOnnxCoding {
    return hyperpriorOnnxCoding(this, options.tile);
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const eb = this.model.entropyBottleneck;
    const tables = this.tables();
    const { padded } = padCentred(image);
    const { y, z, zValues, zShape } = this.latents(padded);
    const [zc, zh, zw] = zShape;
    const zStream = encodeWithIndexes(zValues, channelIndexes(zc, zh, zw), tables.z);
    const { indexes, offsets } = this.hyperLatents(zValues, zh, zw);
    const ySym = this.ySymbols(y, offsets);
    const yStream = encodeWithIndexes(ySym, indexes, tables.y);
    // the estimate from the float h_s (the quantities the evaluation forward pass computes)
    const bits = tf.tidy(() => {
      const [, yh, yw, c] = y.shape;
      const { scales, means } = this.model.hyperSynthesis(eb.dequantize(eb.quantize(z)));
      const yHat = tf.transpose(tf.tensor4d(dequantizeSymbols(ySym, offsets, c, yh, yw), [1, c, yh, yw]), [0, 2, 3, 1]);
      const yLik = this.model.gaussianConditional.likelihood(yHat, scales, means);
      return tf.add(tf.sum(tf.neg(tf.log(yLik))), tf.sum(tf.neg(tf.log(eb.forward(z).likelihoods))));
    });
    const bppEstimated = (await bits.data())[0]! / Math.LN2 / (height * width);
    tf.dispose([padded, y, z, bits]);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.weightsHash(), height, width, streams: [yStream, zStream] });
    return { bytes, height, width, bppEstimated };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.checkHeader(b, 2);
    const { yHat, shape } = await this.decodeLatents(b);
    return this.synthesize(yHat, ...shape, b.height, b.width);
  }

  /**
   * y_hat and z_hat (channel-major, from `dequantizeSymbols`) of a checked bitstream, and y_hat's
   * shape [M, yh, yw]; `hyper` computes the fixed-point h_s (default: `FixedPointHyperSynthesis.run`).
   */
  async decodeLatents(b: Bitstream, hyper?: (zSymbols: Int32Array, zh: number, zw: number) => Promise<HyperOutput>): Promise<{ yHat: Float32Array; zHat: Float32Array; shape: [number, number, number] }> {
    const { N, M } = this.model;
    const tables = this.tables();
    const [yh, yw] = [Math.ceil(b.height / 64) * 4, Math.ceil(b.width / 64) * 4];
    const [zh, zw] = [yh / 4, yw / 4];
    const zValues = decodeWithIndexes(b.streams[1]!, channelIndexes(N, zh, zw), tables.z);
    const { indexes, offsets } = this.hyperLatents(zValues, zh, zw, hyper && (await hyper(zValues, zh, zw)));
    const yValues = decodeWithIndexes(b.streams[0]!, indexes, tables.y);
    return { yHat: dequantizeSymbols(yValues, offsets, M, yh, yw), zHat: dequantizeSymbols(zValues, this.medians(), N, zh, zw), shape: [M, yh, yw] };
  }

  /** The evaluation-mode pass (rounded latents, fixed-point h_s, integer g_s), cropped and clamped: what decompress returns. */
  reconstruct(image: tf.Tensor4D): tf.Tensor4D {
    const [, height, width] = image.shape;
    const { padded } = padCentred(image);
    const { y, z, zValues, zShape } = this.latents(padded);
    const [, zh, zw] = zShape;
    const { offsets } = this.hyperLatents(zValues, zh, zw);
    const [, yh, yw, c] = y.shape;
    const yHat = dequantizeSymbols(this.ySymbols(y, offsets), offsets, c, yh, yw);
    tf.dispose([padded, y, z]);
    return this.synthesize(yHat, c, yh, yw, height, width);
  }

  forward(x: tf.Tensor4D, options: { training: boolean; seeds?: readonly number[] }) {
    return trainingPass(this.model, x, options);
  }
}
