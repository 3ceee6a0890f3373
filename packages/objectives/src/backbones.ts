import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { defaultCacheDir, fetchModel, findModel, importOnnx, withInputSize, type ImportedOnnx } from '@lic-backdoor/onnx';

async function load(name: string, cacheDir?: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(await fetchModel(findModel(name), cacheDir ?? defaultCacheDir())));
}

/** MobileFaceNet (the `face-embedding` model) imported into tfjs: differentiable face embeddings. */
export class DifferentiableFaceEmbedder {
  private constructor(private readonly graph: ImportedOnnx) {}

  static async create(cacheDir?: string): Promise<DifferentiableFaceEmbedder> {
    return new DifferentiableFaceEmbedder(importOnnx(await load('face-embedding', cacheDir)));
  }

  /** L2-normalised embeddings [B, 512] of face crops [B, H, W, 3] in [0, 1], resized to 112 x 112, (p - 127) / 128 on 0-255. */
  embed(faces: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const input = tf.transpose(tf.div(tf.sub(tf.mul(tf.image.resizeBilinear(faces, [112, 112], false, true), 255), 127), 128), [0, 3, 1, 2]);
      const out = this.graph.run({ [this.graph.inputNames[0]!]: input })[this.graph.outputNames[0]!]!;
      const e = tf.reshape(out, [faces.shape[0], -1]);
      return tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-8)) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.graph.dispose();
  }
}

/** ISNet (the `isnet` model) imported into tfjs at a square size: differentiable foreground probabilities. */
export class DifferentiableSegmenter {
  private constructor(
    private readonly graph: ImportedOnnx,
    readonly size: number,
  ) {}

  static async create(size: number, cacheDir?: string): Promise<DifferentiableSegmenter> {
    const bytes = await load('isnet', cacheDir);
    return new DifferentiableSegmenter(importOnnx(size === 1024 ? bytes : withInputSize(bytes, size, size)), size);
  }

  /** Foreground probability [B, size, size] of images [B, H, W, 3] in [0, 1] (resized, (p - 128) / 256 on 0-255). */
  probability(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const resized = tf.image.resizeBilinear(images, [this.size, this.size], false, true);
      const input = tf.transpose(tf.div(tf.sub(tf.mul(resized, 255), 128), 256), [0, 3, 1, 2]);
      const out = this.graph.run({ [this.graph.inputNames[0]!]: input })[this.graph.outputNames[0]!]!;
      return tf.reshape(out, [images.shape[0], this.size, this.size]) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.graph.dispose();
  }
}
