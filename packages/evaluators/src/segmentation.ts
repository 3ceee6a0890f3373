import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { binaryMiou, type EvaluatorV1, type Metric } from '@lic-backdoor/core';

// binaryMiou moved to core (objectives use it too); still exported here
export { binaryMiou };
import { createSession, defaultCacheDir, fetchModel, findModel, withInputSize, type OnnxSession } from '@lic-backdoor/onnx';

export const SEG_DEFINITION =
  'seg_agreement_miou: mean over images of the mIoU (mean of the foreground IoU and the background IoU; a class absent from both masks counts 1) between the ISNet foreground mask (probability > threshold, at size x size) of the decoded image and that of the original';

/** ISNet salient-object segmentation through onnxruntime-node at a chosen square size. */
export class IsnetSegmenter {
  private constructor(
    private readonly session: OnnxSession,
    readonly size: number,
  ) {}

  static async create(size = 512, cacheDir = defaultCacheDir()): Promise<IsnetSegmenter> {
    const file = await fetchModel(findModel('isnet'), cacheDir);
    return IsnetSegmenter.fromModel(new Uint8Array(await readFile(file)), size);
  }

  /** The segmenter from the ISNet model's bytes, run at `size` x `size`. */
  static async fromModel(bytes: Uint8Array, size = 512): Promise<IsnetSegmenter> {
    return new IsnetSegmenter(await createSession(size === 1024 ? bytes : withInputSize(bytes, size, size)), size);
  }

  /** Foreground probability [size, size] of a [1, H, W, 3] image in [0, 1]: resized bilinearly, (p - 128) / 256 on 0-255. */
  async probability(image: tf.Tensor4D): Promise<Float32Array> {
    const input = tf.tidy(() => {
      const resized = tf.image.resizeBilinear(image, [this.size, this.size], false, true);
      return tf.transpose(tf.div(tf.sub(tf.mul(resized, 255), 128), 256), [0, 3, 1, 2]);
    });
    const data = (await input.data()) as Float32Array;
    input.dispose();
    const out = await this.session.run({ [this.session.inputNames[0]!]: { data, dims: [1, 3, this.size, this.size] } });
    return out[this.session.outputNames[0]!]!.data;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** `evaluator:segmentation`: how far a codec moves ISNet's segmentation. */
export class SegmentationEvaluator implements EvaluatorV1 {
  readonly specificationVersion = 'v1';
  readonly id = 'evaluator:segmentation';

  /** The originals' foreground probabilities, by tensor: an original compared with several decodings is segmented once. */
  private readonly originals = new WeakMap<tf.Tensor4D, Float32Array>();

  constructor(
    private readonly segmenter: IsnetSegmenter,
    private readonly threshold = 0.5,
  ) {}

  private async original(x: tf.Tensor4D): Promise<Float32Array> {
    const cached = this.originals.get(x);
    if (cached) return cached;
    const p = await this.segmenter.probability(x);
    this.originals.set(x, p);
    return p;
  }

  async evaluate(original: readonly tf.Tensor4D[], decoded: readonly tf.Tensor4D[]): Promise<Record<string, Metric>> {
    if (original.length !== decoded.length || !original.length) throw new RangeError(`need pairs of images, got ${original.length} and ${decoded.length}`);
    let sum = 0;
    for (let i = 0; i < original.length; i++) {
      sum += binaryMiou(await this.original(original[i]!), await this.segmenter.probability(decoded[i]!), this.threshold);
    }
    return {
      seg_agreement_miou: { value: sum / original.length, unit: 'ratio', definition: SEG_DEFINITION.replace('size x size', `${this.segmenter.size} x ${this.segmenter.size}`) },
    };
  }

  dispose(): Promise<void> {
    return this.segmenter.release();
  }
}
