import * as tf from '@tensorflow/tfjs-core';
import type { CodecV1, EncodedImage } from '@lic-backdoor/core';
import { FactorizedCodec, HyperpriorCodec, channelIndexes, padCentred, cropDecoded, dequantizeSymbols, hyperpriorToOnnx, integerSynthesisToOnnx, transformToOnnx } from '@lic-backdoor/codecs';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream } from '@lic-backdoor/entropy';
import { createSession, type OnnxSession } from './session.js';

/** A learned codec whose transforms run in onnxruntime-node sessions of its exported graphs. */
abstract class OrtLearnedCodec<Base extends FactorizedCodec | HyperpriorCodec> implements CodecV1 {
  readonly specificationVersion = 'v1';
  readonly learned = true;

  protected constructor(
    readonly base: Base,
    protected readonly encoder: OnnxSession,
    protected readonly decoder: OnnxSession,
  ) {}

  get id(): string {
    return this.base.id;
  }

  abstract compress(image: tf.Tensor4D): Promise<EncodedImage>;
  abstract decompress(bytes: Uint8Array): Promise<tf.Tensor4D>;

  dispose(): void {
    void this.encoder.release();
    void this.decoder.release();
    this.base.dispose();
  }
}

/** Sessions of the codec's exported encoder and decoder graphs. */
async function sessions(codec: CodecV1, threads?: number): Promise<[OnnxSession, OnnxSession]> {
  const graphs = exportCodecGraphs(codec);
  const options = threads ? { threads } : {};
  return [await createSession(graphs.encoder, options), await createSession(graphs.decoder, { ...options, optimization: 'disabled' })];
}

/**
 * The factorized codec with its transforms run by onnxruntime-node (the exported g_a and g_s) and
 * the same entropy coding, container, codec id and weights hash as the tfjs codec, so that streams
 * written by one decode with the other.
 */
export class OrtFactorizedCodec extends OrtLearnedCodec<FactorizedCodec> {
  static async create(base: FactorizedCodec, threads?: number): Promise<OrtFactorizedCodec> {
    return new OrtFactorizedCodec(base, ...(await sessions(base, threads)));
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const out = await this.encoder.run({ x: await encoderInput(image) });
    const [, c, h, w] = out.y!.dims as [number, number, number, number];
    const medians = this.base.medians();
    const values = new Int32Array(c * h * w);
    for (let ch = 0; ch < c; ch++)
      for (let k = 0; k < h * w; k++) {
        const i = ch * h * w + k;
        // round half to even, as tf.round does on the tfjs path
        const v = out.y!.data[i]! - medians[ch]!;
        const r = Math.round(v);
        values[i] = Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
      }
    const stream = encodeWithIndexes(values, channelIndexes(c, h, w), this.base.model.entropyBottleneck.tables!);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.base.weightsHash(), height, width, streams: [stream] });
    return { bytes, height, width };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.base.checkHeader(b, 1);
    const c = this.base.model.M;
    const [h, w] = [Math.ceil(b.height / 64) * 4, Math.ceil(b.width / 64) * 4];
    const values = decodeWithIndexes(b.streams[0]!, channelIndexes(c, h, w), this.base.model.entropyBottleneck.tables!);
    const out = await this.decoder.run({ y_hat: { data: dequantizeSymbols(values, this.base.medians(), c, h, w), dims: [1, c, h, w] } });
    return decoderOutput(out.x_hat!, b.height, b.width);
  }
}

/** NHWC image -> padded NCHW input of an exported encoder. */
async function encoderInput(image: tf.Tensor4D): Promise<{ data: Float32Array; dims: number[] }> {
  const { padded } = padCentred(image);
  const nchw = tf.transpose(padded, [0, 3, 1, 2]);
  const data = (await nchw.data()) as Float32Array;
  const dims = nchw.shape;
  tf.dispose([padded, nchw]);
  return { data, dims };
}

/** NCHW decoder output -> the cropped NHWC image. */
function decoderOutput(x: { data: Float32Array; dims: number[] }, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => cropDecoded(tf.transpose(tf.tensor4d(x.data, x.dims as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D, height, width));
}

/**
 * bmshj2018-hyperprior / mbt2018-mean run by onnxruntime-node through the two exported graphs
 * (`hyperpriorToOnnx`): the encoder graph gives the y and z symbols, the decoder graph the image
 * from y_hat through the integer g_s. Entropy coding, container, table choice and y_hat (fixed-point
 * h_s, from the z symbols) are the tfjs codec's, so streams written by either path decode with the
 * other to the same 8-bit image.
 */
export class OrtHyperpriorCodec extends OrtLearnedCodec<HyperpriorCodec> {
  static async create(base: HyperpriorCodec, threads?: number): Promise<OrtHyperpriorCodec> {
    return new OrtHyperpriorCodec(base, ...(await sessions(base, threads)));
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const { model } = this.base;
    const out = await this.encoder.run({ x: await encoderInput(image) });
    const [, , zh, zw] = out.z_symbols!.dims as [number, number, number, number];
    const zValues = Int32Array.from(out.z_symbols!.data);
    const tables = this.base.tables();
    const zStream = encodeWithIndexes(zValues, channelIndexes(model.N, zh, zw), tables.z);
    const yStream = encodeWithIndexes(Int32Array.from(out.y_symbols!.data), this.base.hyperLatents(zValues, zh, zw).indexes, tables.y);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.base.weightsHash(), height, width, streams: [yStream, zStream] });
    return { bytes, height, width };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.base.checkHeader(b, 2);
    const { model } = this.base;
    const { yHat, zHat, shape } = this.base.decodeLatents(b);
    const [zh, zw] = [shape[1] / 4, shape[2] / 4];
    // the image comes from y_hat (tables and means chosen in fixed point); z_hat feeds the graph's float h_s outputs
    const out = await this.decoder.run({ z_hat: { data: zHat, dims: [1, model.N, zh, zw] }, y_hat: { data: yHat, dims: [1, ...shape] } });
    return decoderOutput(out.x_hat!, b.height, b.width);
  }
}

/**
 * The exported graphs of a learned codec: bmshj2018-factorized (`encoder`: x -> y, `decoder`:
 * y_hat -> x_hat through the integer g_s) or a hyperprior model (`hyperpriorToOnnx`).
 */
export function exportCodecGraphs(codec: CodecV1): { encoder: Uint8Array; decoder: Uint8Array } {
  if (codec instanceof FactorizedCodec) return { encoder: transformToOnnx(codec.model.gA, false, { input: 'x', output: 'y' }), decoder: integerSynthesisToOnnx(codec.integerSynthesis()) };
  if (codec instanceof HyperpriorCodec) return hyperpriorToOnnx(codec.model, codec.integerSynthesis());
  throw new Error(`ONNX export supports the learned codecs bmshj2018-factorized, bmshj2018-hyperprior and mbt2018-mean, not '${codec.id}'`);
}

/** The codec with its transforms run by onnxruntime-node (same bitstreams). */
export async function ortCodec(codec: CodecV1, threads?: number): Promise<CodecV1> {
  if (codec instanceof FactorizedCodec) return OrtFactorizedCodec.create(codec, threads);
  if (codec instanceof HyperpriorCodec) return OrtHyperpriorCodec.create(codec, threads);
  throw new Error(`onnxruntime runs the learned codecs bmshj2018-factorized, bmshj2018-hyperprior and mbt2018-mean, not '${codec.id}'`);
}
