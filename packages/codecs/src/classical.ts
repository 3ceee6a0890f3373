import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { rgbToTensor, tensorToRgb, type CodecV1, type EncodedImage } from '@lic-backdoor/core';
import { BitstreamError } from '@lic-backdoor/entropy';

/**
 * JPEG or WebP through sharp (libvips) behind the codec contract. The bitstream is the plain
 * .jpg/.webp file, which any decoder reads. JPEG uses libvips' defaults (4:2:0 chroma).
 */
export class ClassicalCodec implements CodecV1 {
  readonly specificationVersion = 'v1';
  readonly learned = false;

  constructor(
    readonly id: string,
    readonly format: 'jpeg' | 'webp',
    readonly quality: number,
  ) {}

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const rgb = await tensorToRgb(image);
    const input = sharp(Buffer.from(rgb.data.buffer, rgb.data.byteOffset, rgb.data.byteLength), { raw: { width: rgb.width, height: rgb.height, channels: 3 } });
    const out = this.format === 'jpeg' ? await input.jpeg({ quality: this.quality }).toBuffer() : await input.webp({ quality: this.quality }).toBuffer();
    return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), height: rgb.height, width: rgb.width };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    try {
      const { data, info } = await sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      return rgbToTensor({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width });
    } catch (cause) {
      throw new BitstreamError(`not a valid ${this.format.toUpperCase()} stream: ${(cause as Error).message}`);
    }
  }

  dispose(): void {}
}
