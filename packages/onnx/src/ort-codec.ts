import * as tf from '@tensorflow/tfjs-core';
import type { CodecV1, EncodedImage } from '@lic-backdoor/core';
import { FactorizedCodec, channelIndexes, padCentred, cropDecoded, transformToOnnx } from '@lic-backdoor/codecs';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream } from '@lic-backdoor/entropy';
import { createSession, type OnnxSession } from './session.js';

/**
 * The factorized codec with its transforms run by onnxruntime-node (the exported g_a and g_s) and
 * the same entropy coding, container, codec id and weights hash as the tfjs codec, so that streams
 * written by one decode with the other.
 */
export class OrtFactorizedCodec implements CodecV1 {
  readonly specificationVersion = 'v1';
  readonly learned = true;

  private constructor(
    readonly base: FactorizedCodec,
    private readonly encoder: OnnxSession,
    private readonly decoder: OnnxSession,
  ) {}

  get id(): string {
    return this.base.id;
  }

  static async create(base: FactorizedCodec, threads?: number): Promise<OrtFactorizedCodec> {
    const options = threads ? { threads } : {};
    const encoder = await createSession(transformToOnnx(base.model.gA, false, { input: 'x', output: 'y' }), options);
    const decoder = await createSession(transformToOnnx(base.model.gS, true, { input: 'x', output: 'y' }), options);
    return new OrtFactorizedCodec(base, encoder, decoder);
  }

  private medians(): Float32Array {
    return this.base.model.entropyBottleneck.medians().dataSync() as Float32Array;
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const { padded } = padCentred(image);
    const nchw = tf.transpose(padded, [0, 3, 1, 2]);
    const out = await this.encoder.run({ x: { data: (await nchw.data()) as Float32Array, dims: nchw.shape } });
    tf.dispose([padded, nchw]);
    const [, c, h, w] = out.y!.dims as [number, number, number, number];
    const medians = this.medians();
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
    const medians = this.medians();
    const yHat = Float32Array.from(values, (v, i) => v + medians[Math.floor(i / (h * w))]!);
    const out = await this.decoder.run({ x: { data: yHat, dims: [1, c, h, w] } });
    return tf.tidy(() => cropDecoded(tf.transpose(tf.tensor4d(out.y!.data, out.y!.dims as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D, b.height, b.width));
  }

  dispose(): void {
    void this.encoder.release();
    void this.decoder.release();
    this.base.dispose();
  }
}
