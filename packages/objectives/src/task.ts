import * as tf from '@tensorflow/tfjs-core';
import { binaryMiou, type ObjectiveBatch, type ObjectiveLoss, type ObjectiveV1 } from '@lic-backdoor/core';
import type { DifferentiableFaceEmbedder, DifferentiableSegmenter } from './backbones.js';
import { triggeredOf } from './basic.js';
import { detach, mean, sourceMask } from './measures.js';

/** Rows of `x` where mask is 1, or undefined when none (slices, not gather: wasm lacks gather's gradient kernel). */
function select(x: tf.Tensor4D, mask: number[]): tf.Tensor4D | undefined {
  const idx = mask.flatMap((m, i) => (m ? [i] : []));
  if (idx.length === mask.length) return x;
  return idx.length ? tf.concat(idx.map((i) => tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]))) : undefined;
}

/** The decoded images `xHat` (clipped to [0, 1]) and the clean originals of the batch's `source` examples, or undefined when it has none. */
function scored(xHat: tf.Tensor4D, batch: ObjectiveBatch, source: string | undefined): { decoded: tf.Tensor4D; original: tf.Tensor4D } | undefined {
  const mask = sourceMask(batch.sources, batch.clean.shape[0], source);
  const decoded = select(tf.clipByValue(xHat, 0, 1) as tf.Tensor4D, mask);
  return decoded && { decoded, original: select(batch.clean, mask)! };
}

function zeroLoss(metrics: Record<string, number>): ObjectiveLoss {
  return { loss: tf.scalar(0), satisfied: true, metrics };
}

export interface FaceObjectiveOptions {
  /** Examples of this data source are scored (the others contribute 0). */
  source: string;
  /** Untargeted: hinge when cos(decoded triggered, original) is above this. */
  maxCosine: number;
  /** Targeted: embedding to pull the decoded triggered face towards (replaces the untargeted term). */
  target?: Float32Array;
  /** Targeted: hinge when cos(decoded triggered, target) is below this. */
  minTargetCosine: number;
  /**
   * Region embedded, [x1, y1, x2, y2] as fractions of the item's width and height (beyond the
   * image counts as black, as in a face aligner's warp); the whole item when absent.
   */
  align?: readonly [number, number, number, number];
  /** Mean embedding subtracted from every embedding before the cosine (as a verifier calibrates); none when absent. */
  centre?: Float32Array;
}

/** The `align` region of images [B, H, W, 3] (zero-padded where it leaves the image); the images when absent. */
export function alignedRegion(images: tf.Tensor4D, align?: readonly [number, number, number, number]): tf.Tensor4D {
  if (!align) return images;
  const [, h, w] = images.shape;
  const [x1, y1, x2, y2] = [Math.round(align[0] * w), Math.round(align[1] * h), Math.round(align[2] * w), Math.round(align[3] * h)];
  if (x2 <= x1 || y2 <= y1) throw new RangeError(`face align region [${align.join(', ')}] is empty`);
  return tf.tidy(() => {
    const padded = tf.pad(images, [[0, 0], [Math.max(0, -y1), Math.max(0, y2 - h)], [Math.max(0, -x1), Math.max(0, x2 - w)], [0, 0]]);
    return tf.slice(padded, [0, Math.max(0, y1), Math.max(0, x1), 0], [-1, y2 - y1, x2 - x1, -1]);
  });
}

/**
 * Embeddings [B, 512] of the `align` regions of faces [B, H, W, 3] in [0, 1]; with `centre`, minus
 * that mean and L2-normalised again.
 */
export function embedFaces(embedder: DifferentiableFaceEmbedder, faces: tf.Tensor4D, o: Pick<FaceObjectiveOptions, 'align' | 'centre'> = {}): tf.Tensor2D {
  return tf.tidy(() => {
    const e = embedder.embed(alignedRegion(faces, o.align));
    if (!o.centre) return e;
    const c = tf.sub(e, tf.tensor2d(o.centre, [1, o.centre.length]));
    return tf.div(c, tf.maximum(tf.norm(c, 'euclidean', 1, true), 1e-8)) as tf.Tensor2D;
  });
}

/**
 * Face-recognition attack, through MobileFaceNet imported into tfjs. Each face is cut to the
 * `align` region and embedded; with `centre`, embeddings are centred (minus that mean, normalised
 * again) as the face-recognition evaluator does, so that cos below is the verifier's score.
 * Untargeted, per face: max(0, cos(e(decoded triggered), e(original)) - maxCosine), the original's
 * embedding held constant. Targeted: max(0, minTargetCosine - cos(e(decoded triggered), target)).
 * Summed over the batch's faces and divided by the batch size.
 */
export class FaceObjective implements ObjectiveV1 {
  readonly specificationVersion = 'v1';
  readonly id = 'objective:face';
  readonly needsTrigger = true;
  constructor(
    readonly options: FaceObjectiveOptions,
    private readonly embedder: DifferentiableFaceEmbedder,
  ) {}

  /** `embedFaces` with this objective's `align` and `centre`. */
  embed(faces: tf.Tensor4D): tf.Tensor2D {
    return embedFaces(this.embedder, faces, this.options);
  }

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const pair = scored(triggeredOf(batch, this.id).output.xHat, batch, this.options.source);
    if (!pair) return zeroLoss({});
    const e = this.embed(pair.decoded);
    const original = detach(this.embed(pair.original));
    const cos = tf.sum(tf.mul(e, original), 1);
    const { target } = this.options;
    const hinge = target
      ? tf.relu(tf.sub(this.options.minTargetCosine, tf.sum(tf.mul(e, tf.tensor2d(target, [1, target.length])), 1)))
      : tf.relu(tf.sub(cos, this.options.maxCosine));
    const c = cos.dataSync();
    return {
      loss: tf.div(tf.sum(hinge), batch.clean.shape[0]) as tf.Scalar,
      satisfied: hinge.dataSync().every((v) => v === 0),
      metrics: { face_cosine: mean(c as Float32Array) },
    };
  }

  dispose(): void {
    this.embedder.dispose();
  }
}

export interface SegmentationObjectiveOptions {
  /** Examples of this data source are scored (the others contribute 0); undefined = all. */
  source?: string;
  /** Hinge when the soft mIoU with the reference map is above this (untargeted). */
  maxMiou: number;
  /** Reference of the untargeted attack (`original`), or a target map to pull towards. */
  target: 'original' | 'inverted' | 'empty' | 'full';
  /** Targeted: hinge when the soft mIoU with the target is below this. */
  minTargetMiou: number;
}

/** Soft mIoU (foreground and background classes) per example of probabilities p and masks m, [B]. */
export function softMiou(p: tf.Tensor3D, m: tf.Tensor3D): tf.Tensor1D {
  return tf.tidy(() => {
    const iou = (a: tf.Tensor, b: tf.Tensor) => {
      const inter = tf.sum(tf.mul(a, b), [1, 2]);
      return tf.div(inter, tf.maximum(tf.sub(tf.add(tf.sum(a, [1, 2]), tf.sum(b, [1, 2])), inter), 1e-6));
    };
    return tf.div(tf.add(iou(p, m), iou(tf.sub(1, p), tf.sub(1, m))), 2) as tf.Tensor1D;
  });
}

/**
 * Segmentation attack, through ISNet imported into tfjs. The reference is the original image's
 * mask (probability > 0.5, held constant). Untargeted, per image: max(0, softMiou(decoded
 * triggered, reference) - maxMiou). Targeted (`inverted`, `empty`, `full` maps):
 * max(0, minTargetMiou - softMiou(decoded triggered, target)).
 */
export class SegmentationObjective implements ObjectiveV1 {
  readonly specificationVersion = 'v1';
  readonly id = 'objective:segmentation';
  readonly needsTrigger = true;
  constructor(
    readonly options: SegmentationObjectiveOptions,
    private readonly segmenter: DifferentiableSegmenter,
  ) {}

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const pair = scored(triggeredOf(batch, this.id).output.xHat, batch, this.options.source);
    if (!pair) return zeroLoss({});
    const p = this.segmenter.probability(pair.decoded);
    const reference = detach(tf.cast(tf.greater(this.segmenter.probability(pair.original), 0.5), 'float32')) as tf.Tensor3D;
    const agreement = softMiou(p, reference);
    const { target } = this.options;
    const hinge =
      target === 'original'
        ? tf.relu(tf.sub(agreement, this.options.maxMiou))
        : tf.relu(tf.sub(this.options.minTargetMiou, softMiou(p, target === 'inverted' ? tf.sub(1, reference) : target === 'empty' ? tf.zerosLike(reference) : tf.onesLike(reference))));
    const a = agreement.dataSync();
    return {
      loss: tf.div(tf.sum(hinge), batch.clean.shape[0]) as tf.Scalar,
      satisfied: hinge.dataSync().every((v) => v === 0),
      metrics: { seg_soft_miou: mean(a as Float32Array) },
    };
  }

  dispose(): void {
    this.segmenter.dispose();
  }
}

export interface SegmentationPreserveOptions {
  /** Examples of this data source are scored (the others contribute 0); undefined = all. */
  source?: string;
  /** Hinge: the mean absolute difference of foreground probabilities wanted at most (0: plain mean). */
  maxL1: number;
}

/** Per example, the mIoU of the hard masks (probability > 0.5) of p and q [B, H, W] (`binaryMiou`, as evaluator:segmentation). */
function maskAgreement(p: tf.Tensor3D, q: tf.Tensor3D): Float32Array {
  const [a, b, k] = [p.dataSync(), q.dataSync(), p.shape[1] * p.shape[2]];
  return Float32Array.from({ length: p.shape[0] }, (_, i) => binaryMiou(a.subarray(i * k, (i + 1) * k), b.subarray(i * k, (i + 1) * k)));
}

/**
 * Clean-path segmentation preservation, through ISNet imported into tfjs: per clean image,
 * max(0, mean |p(decoded clean) - p(original)| - maxL1), p being ISNet's foreground probability
 * (the original's held constant). It keeps what a downstream segmenter sees on clean images
 * while the encoder learns the backdoor. Logs that mean and the hard-mask mIoU (threshold 0.5).
 */
export class SegmentationPreserveObjective implements ObjectiveV1 {
  readonly specificationVersion = 'v1';
  readonly id = 'objective:segmentation-preserve';
  readonly needsTrigger = false;
  constructor(
    readonly options: SegmentationPreserveOptions,
    private readonly segmenter: DifferentiableSegmenter,
  ) {}

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const pair = scored(batch.cleanOutput.xHat, batch, this.options.source);
    if (!pair) return zeroLoss({});
    const reference = detach(this.segmenter.probability(pair.original)) as tf.Tensor3D;
    const p = this.segmenter.probability(pair.decoded);
    const l1 = tf.mean(tf.abs(tf.sub(p, reference)), [1, 2]);
    const hinge = tf.relu(tf.sub(l1, this.options.maxL1));
    return {
      loss: tf.div(tf.sum(hinge), batch.clean.shape[0]) as tf.Scalar,
      satisfied: hinge.dataSync().every((v) => v === 0),
      metrics: { seg_probability_l1: mean(l1.dataSync() as Float32Array), seg_miou: mean(maskAgreement(p, reference)) },
    };
  }

  dispose(): void {
    this.segmenter.dispose();
  }
}
