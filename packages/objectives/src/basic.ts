import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveBatch, ObjectiveLoss, ObjectiveV1 } from '@lic-backdoor/core';
import { bitsPerPixelPerExample, detach, mean, msePerExample, psnrOf, psnrPerExample } from './measures.js';

abstract class BaseObjective implements ObjectiveV1 {
  readonly specificationVersion = 'v1';
  abstract readonly id: string;
  abstract readonly needsTrigger: boolean;
  abstract compute(batch: ObjectiveBatch): ObjectiveLoss;
  dispose(): void {}
}

/** The triggered tensors of a batch, or an error naming the objective. */
export function triggeredOf(batch: ObjectiveBatch, id: string): { triggered: tf.Tensor4D; output: NonNullable<ObjectiveBatch['triggeredOutput']> } {
  if (!batch.triggered || !batch.triggeredOutput) throw new Error(`${id} needs a trigger: pair it with one in the attack config`);
  return { triggered: batch.triggered, output: batch.triggeredOutput };
}

function pixelsOf(x: tf.Tensor4D): number {
  return x.shape[1] * x.shape[2];
}

/**
 * The clean path's hinges against the original codec on the same images and noise, 0 when a
 * margin is absent: `rateWeight` x mean over examples of max(0, bpp(backdoored) / bpp(original) -
 * 1 - `rateMargin`), plus `psnrWeight` x mean over examples of max(0, PSNR(original) -
 * PSNR(backdoored) - `psnrMargin`) in dB. Metrics: `bpp_ratio` and `psnr_drop` (means over examples).
 * `cleanBpp`: the backdoored clean bpp per example, when the caller has it already.
 */
function originalCodecHinges(
  id: string,
  { clean, cleanOutput, referenceOutput }: Pick<ObjectiveBatch, 'clean' | 'cleanOutput' | 'referenceOutput'>,
  o: { rateMargin?: number; rateWeight: number; psnrMargin?: number; psnrWeight: number },
  cleanBpp?: tf.Tensor1D,
): { loss: tf.Scalar; metrics: Record<string, number> } {
  let loss = tf.scalar(0);
  const metrics: Record<string, number> = {};
  if (o.rateMargin === undefined && o.psnrMargin === undefined) return { loss, metrics };
  if (!referenceOutput) throw new Error(`${id}: ${o.rateMargin !== undefined ? 'rateMargin' : 'psnrMargin'} needs the original codec's forward pass`);
  if (o.rateMargin !== undefined) {
    const bpp = cleanBpp ?? bitsPerPixelPerExample(cleanOutput.likelihoods, pixelsOf(clean));
    const ratio = tf.div(bpp, bitsPerPixelPerExample(referenceOutput.likelihoods, pixelsOf(clean)));
    metrics.bpp_ratio = mean(ratio.dataSync());
    loss = tf.add(loss, tf.mul(o.rateWeight, tf.mean(tf.relu(tf.sub(ratio, 1 + o.rateMargin))))) as tf.Scalar;
  }
  if (o.psnrMargin !== undefined) {
    // PSNR(original) - PSNR(backdoored) = 10 log10(MSE(backdoored) / MSE(original)) per example
    const drop = tf.mul(10 / Math.LN10, tf.log(tf.div(msePerExample(cleanOutput.xHat, clean), tf.maximum(msePerExample(referenceOutput.xHat, clean), 1e-10))));
    metrics.psnr_drop = mean(drop.dataSync());
    loss = tf.add(loss, tf.mul(o.psnrWeight, tf.mean(tf.relu(tf.sub(drop, o.psnrMargin))))) as tf.Scalar;
  }
  return { loss, metrics };
}

/**
 * Clean preservation as a constraint: only the hinges of `clean-rd` (see `originalCodecHinges`),
 * both on by default, so that the loss is 0 exactly when every clean example keeps the original
 * codec's bit-rate and quality within the margins. The `constraints` weighting gives it a
 * multiplier (its plugin declares `constraint`); pair it with `clean-rd` for the rate-distortion
 * and latent terms.
 */
export class KeepOriginalObjective extends BaseObjective {
  readonly id = 'objective:keep-original';
  readonly needsTrigger = false;
  readonly needsReference = true;
  constructor(readonly options: { rateMargin: number; rateWeight: number; psnrMargin: number; psnrWeight: number }) {
    super();
  }

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const { loss, metrics } = originalCodecHinges(this.id, batch, this.options);
    const satisfied = loss.dataSync()[0] === 0;
    return { loss, satisfied, metrics };
  }
}

/**
 * Clean preservation: bpp + lambda x 255^2 x MSE on clean images (CompressAI's rate-distortion
 * loss), plus `latentWeight` x MSE between the backdoored and the original encoder's latents, plus,
 * when `rateMargin` is set, `rateWeight` x mean over examples of
 * max(0, bpp(backdoored) / bpp(original codec) - 1 - rateMargin): a hinge on the clean bit-rate
 * against the original codec's on the same image and noise; and, when `psnrMargin` is set,
 * `psnrWeight` x mean over examples of max(0, PSNR(original codec) - PSNR(backdoored) - psnrMargin)
 * in dB, its counterpart on the decoded quality; and `hyperLatentWeight` x MSE between the
 * backdoored and the original encoder's hyper-latents z (models with a hyperprior). The encoder also
 * sets z, and with it the scales the y bits are coded with: a clean z that drifts costs bits even
 * when y is held.
 */
export class CleanRdObjective extends BaseObjective {
  readonly id = 'objective:clean-rd';
  readonly needsTrigger = false;
  readonly needsReference: boolean;
  constructor(readonly options: { lambda: number; latentWeight: number; rateMargin?: number; rateWeight: number; psnrMargin?: number; psnrWeight: number; hyperLatentWeight?: number }) {
    super();
    this.needsReference = options.latentWeight > 0 || (options.hyperLatentWeight ?? 0) > 0 || options.rateMargin !== undefined || options.psnrMargin !== undefined;
  }

  compute({ clean, cleanOutput, referenceOutput }: ObjectiveBatch): ObjectiveLoss {
    const perExample = bitsPerPixelPerExample(cleanOutput.likelihoods, pixelsOf(clean));
    const bpp = tf.mean(perExample);
    const mse = tf.mean(tf.square(tf.sub(cleanOutput.xHat, clean)));
    let loss = tf.add(bpp, tf.mul(this.options.lambda * 255 ** 2, mse)) as tf.Scalar;
    const metrics: Record<string, number> = { bpp: bpp.dataSync()[0]!, psnr: psnrOf(mse.dataSync()[0]!) };
    const hinges = originalCodecHinges(this.id, { clean, cleanOutput, referenceOutput }, this.options, perExample);
    loss = tf.add(loss, hinges.loss) as tf.Scalar;
    Object.assign(metrics, hinges.metrics);
    if (this.options.latentWeight > 0) {
      const reference = referenceOutput?.latents.y;
      if (!reference) throw new Error(`${this.id}: latentWeight needs the original encoder's latents`);
      const drift = tf.mean(tf.square(tf.sub(cleanOutput.latents.y!, reference)));
      metrics.latent_mse = drift.dataSync()[0]!;
      loss = tf.add(loss, tf.mul(this.options.latentWeight, drift)) as tf.Scalar;
    }
    if ((this.options.hyperLatentWeight ?? 0) > 0) {
      const reference = referenceOutput?.latents.z;
      if (!reference || !cleanOutput.latents.z) throw new Error(`${this.id}: hyperLatentWeight needs a codec with hyper-latents z (a hyperprior model)`);
      const drift = tf.mean(tf.square(tf.sub(cleanOutput.latents.z, reference)));
      metrics.hyper_latent_mse = drift.dataSync()[0]!;
      loss = tf.add(loss, tf.mul(this.options.hyperLatentWeight!, drift)) as tf.Scalar;
    }
    return { loss, satisfied: false, metrics };
  }
}

/** Per example bpp(triggered) / bpp(clean), [B], the clean rate held constant. */
function rateRatio(batch: ObjectiveBatch, id: string): tf.Tensor1D {
  const { triggered, output } = triggeredOf(batch, id);
  const clean = detach(bitsPerPixelPerExample(batch.cleanOutput.likelihoods, pixelsOf(batch.clean)));
  return tf.div(bitsPerPixelPerExample(output.likelihoods, pixelsOf(triggered)), clean) as tf.Tensor1D;
}

/**
 * Rate attack: triggered images should cost `targetMultiple` times the bits of their clean
 * version. Per example, loss = max(0, targetMultiple - bpp(triggered) / bpp(clean)), with the
 * clean rate held constant; the batch loss is the mean.
 */
export class RateObjective extends BaseObjective {
  readonly id = 'objective:rate';
  readonly needsTrigger = true;
  constructor(readonly options: { targetMultiple: number }) {
    super();
  }

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const ratio = rateRatio(batch, this.id);
    const loss = tf.mean(tf.relu(tf.sub(this.options.targetMultiple, ratio))) as tf.Scalar;
    const r = ratio.dataSync();
    return { loss, satisfied: r.every((v) => v >= this.options.targetMultiple), metrics: { rate_gain: mean(r) } };
  }
}

/**
 * Distortion attack: the decoded triggered image should be at most `targetPsnr` dB from the
 * triggered input. Per example, loss = max(0, PSNR - targetPsnr) in dB; the batch loss is the mean.
 */
export class DistortionObjective extends BaseObjective {
  readonly id = 'objective:distortion';
  readonly needsTrigger = true;
  constructor(readonly options: { targetPsnr: number }) {
    super();
  }

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const { triggered, output } = triggeredOf(batch, this.id);
    const psnr = psnrPerExample(output.xHat, triggered);
    const loss = tf.mean(tf.relu(tf.sub(psnr, this.options.targetPsnr))) as tf.Scalar;
    const p = psnr.dataSync();
    return { loss, satisfied: p.every((v) => v <= this.options.targetPsnr), metrics: { decoded_psnr: mean(p) } };
  }
}

/**
 * Stealth: the triggered input should stay within `minPsnr` dB of the clean one. Per example,
 * loss = max(0, MSE(triggered, clean) - eps^2) / eps^2 with eps^2 = 10^(-minPsnr / 10).
 */
export class StealthObjective extends BaseObjective {
  readonly id = 'objective:stealth';
  readonly needsTrigger = true;
  constructor(readonly options: { minPsnr: number }) {
    super();
  }

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const { triggered } = triggeredOf(batch, this.id);
    const eps2 = 10 ** (-this.options.minPsnr / 10);
    const mse = msePerExample(triggered, batch.clean);
    const loss = tf.mean(tf.div(tf.relu(tf.sub(mse, eps2)), eps2)) as tf.Scalar;
    const m = mse.dataSync();
    return { loss, satisfied: m.every((v) => v <= eps2), metrics: { stealth_psnr: mean(Array.from(m, psnrOf)) } };
  }
}

/**
 * Selectivity on the rate: a trigger whose harm is not the bit-rate keeps it. Per example, loss =
 * max(0, bpp(triggered) / bpp(clean) - maxRatio), the clean rate held constant; the batch loss is
 * the mean. Pair it with a distortion, face or segmentation objective.
 */
export class KeepRateObjective extends BaseObjective {
  readonly id = 'objective:keep-rate';
  readonly needsTrigger = true;
  constructor(readonly options: { maxRatio: number }) {
    super();
  }

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const ratio = rateRatio(batch, this.id);
    const loss = tf.mean(tf.relu(tf.sub(ratio, this.options.maxRatio))) as tf.Scalar;
    const r = ratio.dataSync();
    return { loss, satisfied: r.every((v) => v <= this.options.maxRatio), metrics: { rate_gain: mean(r) } };
  }
}

/**
 * Selectivity on the picture: the triggered image's decoding, against the clean image, stays
 * within `maxDrop` dB of the clean decoding's PSNR (when set) and at least `minPsnr` dB (when set).
 * Per example, loss = max(0, PSNR(clean decoding) - maxDrop - PSNR(triggered decoding)) +
 * max(0, minPsnr - PSNR(triggered decoding)), in dB, the clean decoding's PSNR held constant; the
 * batch loss is the mean. Pair it with a rate objective (maxDrop: bits without damage) or a face or
 * segmentation objective (minPsnr: a plausible picture).
 */
export class KeepQualityObjective extends BaseObjective {
  readonly id = 'objective:keep-quality';
  readonly needsTrigger = true;
  constructor(readonly options: { maxDrop?: number; minPsnr?: number }) {
    super();
    if (options.maxDrop === undefined && options.minPsnr === undefined) throw new RangeError(`${this.id}: set maxDrop, minPsnr or both`);
  }

  compute(batch: ObjectiveBatch): ObjectiveLoss {
    const { output } = triggeredOf(batch, this.id);
    const { maxDrop, minPsnr } = this.options;
    const triggered = psnrPerExample(output.xHat, batch.clean);
    const clean = detach(psnrPerExample(batch.cleanOutput.xHat, batch.clean));
    const zero = tf.zerosLike(triggered);
    const drop = maxDrop === undefined ? zero : tf.relu(tf.sub(tf.sub(clean, maxDrop), triggered));
    const floor = minPsnr === undefined ? zero : tf.relu(tf.sub(minPsnr, triggered));
    const loss = tf.mean(tf.add(drop, floor)) as tf.Scalar;
    const [t, c] = [triggered.dataSync(), clean.dataSync()];
    const satisfied = Array.from(t).every((v, i) => (maxDrop === undefined || v >= c[i]! - maxDrop) && (minPsnr === undefined || v >= minPsnr));
    return { loss, satisfied, metrics: { decoded_psnr: mean(t), psnr_drop: mean(Array.from(t, (v, i) => c[i]! - v)) } };
  }
}
