import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { extname } from 'node:path';
import { writeFileAtomic } from './safetensors.js';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { ImageReadError, ImageWriteError } from '../errors.js';

/** An 8-bit RGB image in memory, row-major, 3 bytes a pixel. */
export interface RgbImage {
  data: Uint8Array;
  height: number;
  width: number;
}

/** Reads a PNG, JPEG or WebP file as 8-bit RGB (alpha dropped, grey expanded to RGB). */
export async function readRgb(file: string): Promise<RgbImage> {
  try {
    await access(file, constants.R_OK);
    const { data, info } = await sharp(file, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width };
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (cause as Error).message;
    throw new ImageReadError(file, reason, { cause });
  }
}

/** An 8-bit RGB image as a [1, H, W, 3] float32 tensor in [0, 1]. */
export function rgbToTensor(image: RgbImage): tf.Tensor4D {
  const values = new Float32Array(image.data.length);
  for (let i = 0; i < values.length; i++) values[i] = image.data[i]! / 255;
  return tf.tensor4d(values, [1, image.height, image.width, 3]);
}

/** Reads an image file as a [1, H, W, 3] float32 tensor in [0, 1]. */
export async function readImage(file: string): Promise<tf.Tensor4D> {
  return rgbToTensor(await readRgb(file));
}

/**
 * Rounds a [1, H, W, 3] (or [H, W, 3]) tensor in [0, 1] to 8 bits: `Math.round(clamp(v, 0, 1) * 255)`.
 */
export async function tensorToRgb(image: tf.Tensor): Promise<RgbImage> {
  const shape = image.shape.length === 4 ? image.shape.slice(1) : image.shape;
  if (shape.length !== 3 || shape[2] !== 3 || (image.shape.length === 4 && image.shape[0] !== 1)) {
    throw new RangeError(`expected a [1, H, W, 3] or [H, W, 3] image, got [${image.shape.join(', ')}]`);
  }
  const values = await image.data();
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, values[i]!)) * 255);
  return { data, height: shape[0]!, width: shape[1]! };
}

/** Quantizes a tensor image to 8 bits and back: what a PNG written and read again holds. */
export async function roundTo8Bit(image: tf.Tensor4D): Promise<tf.Tensor4D> {
  return rgbToTensor(await tensorToRgb(image));
}

/** Encodes an 8-bit image as PNG, JPEG (.jpg/.jpeg, quality 95) or WebP (lossless) by extension. */
export async function encodeRgb(image: RgbImage, format: 'png' | 'jpeg' | 'webp'): Promise<Buffer> {
  const s = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  if (format === 'png') return s.png().toBuffer();
  if (format === 'jpeg') return s.jpeg({ quality: 95 }).toBuffer();
  return s.webp({ lossless: true }).toBuffer();
}

function formatOf(file: string): 'png' | 'jpeg' | 'webp' {
  const ext = extname(file).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  throw new ImageWriteError(file, `unknown image extension '${ext}' (use .png, .jpg, .jpeg or .webp)`);
}

/**
 * Writes a [1, H, W, 3] tensor in [0, 1] (rounded to 8 bits) to a PNG, JPEG or WebP file chosen
 * by extension, atomically (`writeFileAtomic`: no partial or temporary file is left behind).
 */
export async function writeImage(file: string, image: tf.Tensor): Promise<void> {
  const format = formatOf(file);
  const bytes = await encodeRgb(await tensorToRgb(image), format);
  try {
    await writeFileAtomic(file, bytes);
  } catch (cause) {
    throw new ImageWriteError(file, (cause as Error).message, { cause });
  }
}
