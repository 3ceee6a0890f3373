import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type { EncodedImage } from '@lic-backdoor/core';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream, type CdfTables } from '@lic-backdoor/entropy';
import { GaussianConditional, SCALE_BOUND } from './entropy-models/gaussian-conditional.js';
import { LearnedCodecBase } from './learned-codec-base.js';
import type { FactorizedPrior } from './models/factorized.js';
import type { HyperpriorModel } from './models/hyperprior.js';
import { channelIndexes, cropDecoded, dequantizeSymbols, padCentred } from './padding.js';
import { trainingPass } from './trainable.js';

/*
 * CompressAI-compatible coding: the codecs' `-compressai` flavours. What differs from the default
 * coding, each as CompressAI's `model.compress`/`decompress` does it:
 * - the CDF tables are the state dict's own buffers, used as stored (the entropy bottleneck's, as in
 *   the default coding, and the Gaussian conditional's `_quantized_cdf`/`_offset`/`_cdf_length` with
 *   its `scale_table`), never rebuilt;
 * - a y element's table is the first scale-table entry >= its scale (`build_indexes`);
 * - h_s and g_s run in float32 (tfjs), as CompressAI's do, not in fixed point and integers; so, as in
 *   CompressAI itself, a scale that falls on a table boundary can pick another table on another
 *   machine, and decoded images are float results, not bit-exact across runtimes;
 * - the streams are in CompressAI's rANS format (`RansFormat` 'compressai'): each container stream is
 *   one of CompressAI's `strings` for the image, in its order (y, then z), unchanged.
 * The container (codec id `codec:<model>-compressai`, weights hash, image size) wraps them; the
 * latent shape CompressAI passes as `shape` follows from the image size padded centred to a
 * multiple of 64.
 */

type Tables = CdfTables & { cdfLengths: Int32Array };

/** NHWC tensor -> channel-major (NCHW) values. */
function channelMajor(t: tf.Tensor4D): Float32Array {
  return tf.tidy(() => tf.transpose(t, [0, 3, 1, 2]).dataSync() as Float32Array);
}

/** channel-major values [c, h, w] -> NHWC tensor. */
function nhwc(data: Float32Array, c: number, h: number, w: number): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(data, [1, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D);
}

/** One value per channel repeated over a plane of `plane` values, channel-major. */
function perChannel(values: Float32Array, plane: number): Float32Array {
  return Float32Array.from({ length: values.length * plane }, (_, i) => values[Math.floor(i / plane)]!);
}

/** round(values - offsets) with ties to even (torch.round), in float32 as CompressAI computes it. */
function symbols(values: Float32Array, offsets?: Float32Array): Int32Array {
  return tf.tidy(() => {
    const v = tf.tensor1d(values);
    return Int32Array.from(tf.round(offsets ? tf.sub(v, tf.tensor1d(offsets)) : v).dataSync());
  });
}

/** The float g_s of y_hat, clamped and cropped to the image, as CompressAI's decompress returns it. */
function floatSynthesis(synthesis: (y: tf.Tensor4D) => tf.Tensor4D, yHat: Float32Array, c: number, h: number, w: number, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => cropDecoded(synthesis(nhwc(yHat, c, h, w)), height, width));
}

function hashWith(base: Uint8Array, extra: Tables | undefined, scaleTable?: Float32Array): Uint8Array {
  const hash = createHash('sha256').update(base).update('compressai');
  for (const t of extra?.cdfs ?? []) hash.update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  if (extra) hash.update(new Uint8Array(extra.offsets.buffer, extra.offsets.byteOffset, extra.offsets.byteLength));
  if (scaleTable) hash.update(new Uint8Array(scaleTable.buffer, scaleTable.byteOffset, scaleTable.byteLength));
  return new Uint8Array(hash.digest().subarray(0, 16));
}

function entropyTables(codec: { id: string; model: { entropyBottleneck: { tables: Tables | undefined } } }): Tables {
  const tables = codec.model.entropyBottleneck.tables;
  if (!tables) throw new Error(`${codec.id}: no entropy-bottleneck CDF tables; load weights that have them (CompressAI's update() before saving)`);
  return tables;
}

/** bmshj2018-factorized coded as CompressAI's FactorizedPrior codes it: one stream, y. */
export class CompressaiFactorizedCodec extends LearnedCodecBase<FactorizedPrior> {
  override weightsHash(): Uint8Array {
    return hashWith(super.weightsHash(), undefined);
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const eb = this.model.entropyBottleneck;
    const { padded } = padCentred(image);
    const y = this.model.analysis(padded);
    const [, h, w, c] = y.shape;
    const ySymbols = symbols(channelMajor(y), perChannel(this.medians(), h * w));
    const stream = encodeWithIndexes(ySymbols, channelIndexes(c, h, w), entropyTables(this), 'compressai');
    const bits = tf.tidy(() => tf.div(tf.sum(tf.neg(tf.log(eb.forward(y).likelihoods))), Math.LN2));
    const bppEstimated = (await bits.data())[0]! / (height * width);
    tf.dispose([padded, y, bits]);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.weightsHash(), height, width, streams: [stream] });
    return { bytes, height, width, bppEstimated };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.checkHeader(b, 1);
    const [c, h, w] = [this.model.M, Math.ceil(b.height / 64) * 4, Math.ceil(b.width / 64) * 4];
    const values = decodeWithIndexes(b.streams[0]!, channelIndexes(c, h, w), entropyTables(this), 'compressai');
    return floatSynthesis((y) => this.model.synthesis(y), dequantizeSymbols(values, this.medians(), c, h, w), c, h, w, b.height, b.width);
  }

  forward(x: tf.Tensor4D, options: { training: boolean; seeds?: readonly number[] }) {
    return trainingPass(this.model, x, options);
  }
}

/**
 * bmshj2018-hyperprior and mbt2018-mean coded as CompressAI's ScaleHyperprior and
 * MeanScaleHyperprior code them: two streams, y then z.
 */
export class CompressaiHyperpriorCodec extends LearnedCodecBase<HyperpriorModel> {
  /** The Gaussian conditional's stored tables, scale table and bound (the model's own when the weights had none). */
  gaussian(): { tables: Tables; scaleTable: Float32Array; scaleBound: number } {
    const gc = this.model.gaussianConditional;
    if (gc.stored) return gc.stored;
    if (!gc.tables) gc.update();
    return { tables: gc.tables!, scaleTable: gc.table, scaleBound: SCALE_BOUND };
  }

  override weightsHash(): Uint8Array {
    const g = this.gaussian();
    return hashWith(super.weightsHash(), g.tables, g.scaleTable);
  }

  /**
   * The float h_s of z_hat (channel-major [N, zh, zw]): each y element's table index (CompressAI's
   * `build_indexes`) and mean (mbt2018-mean; zeros otherwise), channel-major.
   */
  hyperLatents(zHat: Float32Array, zh: number, zw: number): { indexes: Int32Array; means: Float32Array | undefined } {
    const { scales, means } = this.model.hyperSynthesis(nhwc(zHat, this.model.N, zh, zw));
    const s = channelMajor(scales);
    const m = means && channelMajor(means);
    tf.dispose([scales, means]);
    const g = this.gaussian();
    return { indexes: GaussianConditional.firstAtLeast(s, g.scaleTable, g.scaleBound), means: m };
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const eb = this.model.entropyBottleneck;
    const { padded } = padCentred(image);
    const y = this.model.analysis(padded);
    const z = this.model.hyperAnalysis(y);
    const [, zh, zw, n] = z.shape;
    const [, yh, yw, c] = y.shape;
    const zSymbols = symbols(channelMajor(z), perChannel(this.medians(), zh * zw));
    const zStream = encodeWithIndexes(zSymbols, channelIndexes(n, zh, zw), entropyTables(this), 'compressai');
    const { indexes, means } = this.hyperLatents(dequantizeSymbols(zSymbols, this.medians(), n, zh, zw), zh, zw);
    const ySymbols = symbols(channelMajor(y), means);
    const yStream = encodeWithIndexes(ySymbols, indexes, this.gaussian().tables, 'compressai');
    const bits = tf.tidy(() => {
      const { scales, means: m } = this.model.hyperSynthesis(eb.dequantize(eb.quantize(z)));
      const yHat = nhwc(dequantizeSymbols(ySymbols, means ?? new Float32Array(ySymbols.length), c, yh, yw), c, yh, yw);
      return tf.div(tf.add(tf.sum(tf.neg(tf.log(this.model.gaussianConditional.likelihood(yHat, scales, m)))), tf.sum(tf.neg(tf.log(eb.forward(z).likelihoods)))), Math.LN2);
    });
    const bppEstimated = (await bits.data())[0]! / (height * width);
    tf.dispose([padded, y, z, bits]);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.weightsHash(), height, width, streams: [yStream, zStream] });
    return { bytes, height, width, bppEstimated };
  }

  /** y_hat and z_hat (channel-major) and the y indexes of CompressAI-format streams [y, z] for an image of height x width. */
  decodeLatents(streams: Uint8Array[], height: number, width: number): { yHat: Float32Array; zHat: Float32Array; indexes: Int32Array; shape: [number, number, number] } {
    const { N, M } = this.model;
    const [yh, yw] = [Math.ceil(height / 64) * 4, Math.ceil(width / 64) * 4];
    const [zh, zw] = [yh / 4, yw / 4];
    const zSymbols = decodeWithIndexes(streams[1]!, channelIndexes(N, zh, zw), entropyTables(this), 'compressai');
    const zHat = dequantizeSymbols(zSymbols, this.medians(), N, zh, zw);
    const { indexes, means } = this.hyperLatents(zHat, zh, zw);
    const ySymbols = decodeWithIndexes(streams[0]!, indexes, this.gaussian().tables, 'compressai');
    return { yHat: dequantizeSymbols(ySymbols, means ?? new Float32Array(ySymbols.length), M, yh, yw), zHat, indexes, shape: [M, yh, yw] };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.checkHeader(b, 2);
    const { yHat, shape } = this.decodeLatents(b.streams, b.height, b.width);
    return floatSynthesis((y) => this.model.synthesis(y), yHat, ...shape, b.height, b.width);
  }

  forward(x: tf.Tensor4D, options: { training: boolean; seeds?: readonly number[] }) {
    return trainingPass(this.model, x, options);
  }
}
