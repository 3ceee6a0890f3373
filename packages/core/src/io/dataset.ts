import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { DatasetError } from '../errors.js';
import type { Rng } from '../rng.js';
import { readRgb, type RgbImage } from './image.js';

/** File extensions an image folder dataset reads. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

/** Image files inside `dir` (in its subfolders too with `recursive`), sorted by path. */
export async function listImages(dir: string, options: { recursive?: boolean } = {}): Promise<string[]> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    entries = (await readdir(dir, { recursive: options.recursive ?? false })).map(String);
  } catch (cause) {
    throw new DatasetError(`Cannot read image folder '${dir}': ${(cause as Error).message}`, { cause });
  }
  const files = entries.filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase())).sort();
  if (files.length === 0) throw new DatasetError(`Image folder '${dir}' holds no ${IMAGE_EXTENSIONS.join('/')} files`);
  return files.map((f) => join(dir, f));
}

/**
 * A folder of images decoded once into memory as 8-bit RGB, from which seeded random crops are
 * drawn for training.
 */
export class ImageFolderDataset {
  private constructor(
    readonly files: readonly string[],
    readonly images: readonly RgbImage[],
  ) {}

  /**
   * Reads every image of `dir` (and of its subfolders with `recursive`, keeping those `include`
   * accepts by path relative to `dir`); images smaller than `minSize` on either side are an error.
   */
  static async load(dir: string, options: { minSize?: number; recursive?: boolean; include?: (relative: string) => boolean } = {}): Promise<ImageFolderDataset> {
    const files = (await listImages(dir, options)).filter((f) => !options.include || options.include(relative(dir, f)));
    if (!files.length) throw new DatasetError(`No image of '${dir}' is selected`);
    const images: RgbImage[] = [];
    for (const file of files) {
      const image = await readRgb(file);
      if (options.minSize && (image.height < options.minSize || image.width < options.minSize)) {
        throw new DatasetError(`Image '${file}' is ${image.width}x${image.height}, smaller than the crop size ${options.minSize}`);
      }
      images.push(image);
    }
    return new ImageFolderDataset(files, images);
  }

  get size(): number {
    return this.images.length;
  }

  /**
   * A [batch, size, size, 3] float32 batch in [0, 1] of random crops: for each item, an image
   * index, a top-left corner and (with `flip`) a horizontal flip, all drawn from `rng` in that
   * order, so that a seed fixes the batch.
   */
  randomCrops(rng: Rng, batch: number, size: number, options: { flip?: boolean } = {}): tf.Tensor4D {
    return tf.tensor4d(this.randomCropData(rng, batch, size, options), [batch, size, size, 3]);
  }

  /** The values of `randomCrops` as a flat NHWC float32 array (no tensor), for training loops. */
  randomCropData(rng: Rng, batch: number, size: number, options: { flip?: boolean } = {}): Float32Array {
    const out = new Float32Array(batch * size * size * 3);
    for (let b = 0; b < batch; b++) {
      const image = this.images[rng.int(this.images.length)]!;
      if (image.height < size || image.width < size) {
        throw new DatasetError(`An image is ${image.width}x${image.height}, smaller than the crop size ${size}`);
      }
      const top = rng.int(image.height - size + 1);
      const left = rng.int(image.width - size + 1);
      const flip = options.flip ? rng.next() < 0.5 : false;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const sx = flip ? left + size - 1 - x : left + x;
          const src = ((top + y) * image.width + sx) * 3;
          const dst = ((b * size + y) * size + x) * 3;
          out[dst] = image.data[src]! / 255;
          out[dst + 1] = image.data[src + 1]! / 255;
          out[dst + 2] = image.data[src + 2]! / 255;
        }
      }
    }
    return out;
  }

  /**
   * Like `randomCropData`, but from each image resized by `scale` first (tf.image.resizeBilinear
   * with half-pixel centres, each side rounded), so that crops show content at another scale than
   * the stored images' (e.g. that of a test set): for each item an image index, a top-left corner
   * and (with `flip`) a horizontal flip are drawn from `rng` in that order.
   */
  scaledCropData(rng: Rng, batch: number, size: number, scale: number, options: { flip?: boolean } = {}): Float32Array {
    if (!(scale > 0)) throw new RangeError(`scale must be positive, got ${scale}`);
    const out = new Float32Array(batch * size * size * 3);
    for (let b = 0; b < batch; b++) {
      const image = this.images[rng.int(this.images.length)]!;
      const [height, width] = [Math.round(image.height * scale), Math.round(image.width * scale)];
      if (height < size || width < size) throw new DatasetError(`An image is ${image.width}x${image.height}, ${width}x${height} at scale ${scale}: smaller than the crop size ${size}`);
      const top = rng.int(height - size + 1);
      const left = rng.int(width - size + 1);
      const flip = options.flip ? rng.next() < 0.5 : false;
      out.set(resizedWindow(image, [height, width], [top, left, size], flip), b * size * size * 3);
    }
    return out;
  }

  /**
   * Like `randomCropData`, but each item is a whole image resized to size x size
   * (tf.image.resizeBilinear with half-pixel centres), for small aligned images such as face chips
   * whose framing matters: for each item an image index and (with `flip`) a horizontal flip are
   * drawn from `rng`.
   */
  resizedData(rng: Rng, batch: number, size: number, options: { flip?: boolean } = {}): Float32Array {
    const out = new Float32Array(batch * size * size * 3);
    for (let b = 0; b < batch; b++) {
      const image = this.images[rng.int(this.images.length)]!;
      const flip = options.flip ? rng.next() < 0.5 : false;
      out.set(resizedWindow(image, [size, size], [0, 0, size], flip), b * size * size * 3);
    }
    return out;
  }
}

/**
 * The size x size window at (top, left) of `image` resized to [height, width] (values in [0, 1],
 * tf.image.resizeBilinear with half-pixel centres), mirrored left-right when `flip`.
 */
function resizedWindow(image: RgbImage, [height, width]: [number, number], [top, left, size]: [number, number, number], flip: boolean): Float32Array {
  return tf.tidy(() => {
    const x = tf.div(tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]), 255) as tf.Tensor4D;
    const resized = tf.image.resizeBilinear(x, [height, width], false, true);
    const window = tf.slice(resized, [0, top, left, 0], [1, size, size, 3]);
    return (flip ? tf.reverse(window, 2) : window).dataSync() as Float32Array;
  });
}
