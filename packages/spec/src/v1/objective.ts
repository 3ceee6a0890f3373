import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import type { PluginFactoryV1, PluginReference } from './plugin.js';
import type { CodecForwardResult } from './codec.js';

/**
 * Everything an objective sees for one training batch. Tensors are owned by the training loop:
 * objectives must not dispose them.
 */
export interface ObjectiveBatch {
  /** Clean input images, [B, H, W, 3] in [0, 1]. */
  clean: Tensor4D;
  /** The backdoored codec's forward pass on `clean`. */
  cleanOutput: CodecForwardResult;
  /**
   * Where each example of `clean` came from (for example `photos` or `faces`), when the loop
   * mixes data sources. Objectives restricted to one source score only its examples and still
   * divide by the number of examples of the whole batch, so that losses do not depend on how the
   * batch was split across workers.
   */
  sources?: readonly string[];
  /**
   * The original (frozen) codec's forward pass on `clean` with the same quantization noise as
   * `cleanOutput` (values, no gradient), when the objective `needsReference`.
   */
  referenceOutput?: CodecForwardResult;
  /** Triggered inputs for this objective's trigger, when the objective has one. */
  triggered?: Tensor4D;
  /** The backdoored codec's forward pass on `triggered`. */
  triggeredOutput?: CodecForwardResult;
}

/** What an objective returns for one batch. */
export interface ObjectiveLoss {
  /** Loss to minimise (differentiable, scalar). */
  loss: Scalar;
  /**
   * True when the objective already meets its target on this batch (a hinged loss at zero).
   * Dynamic loss weighting uses it; reported in logs.
   */
  satisfied: boolean;
  /** Plain numbers for the log (for example `bpp`, `psnr`), computed without gradients. */
  metrics: Record<string, number>;
}

/** One term of the attack's loss. */
export interface ObjectiveV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** `objective:<name>` of the factory that made it. */
  readonly id: string;
  /** True when the objective needs a triggered copy of the batch (rate, distortion, face...). */
  readonly needsTrigger: boolean;
  /** True when `compute` reads `referenceOutput` (the original codec's outputs and latents), which cost the loop one more forward pass. */
  readonly needsReference?: boolean;
  /** Computes the loss for one batch. Called inside the loop's gradient scope. */
  compute(batch: ObjectiveBatch): ObjectiveLoss;
  /** Releases any tensors or sessions the objective holds. */
  dispose(): void;
}

/**
 * A bound on one effect of `evaluate-attack`'s effect matrix: `min <= value <= max` (either may be
 * absent). With `relative`, the reference path's value of the same effect is added to both: for a
 * trigger the clean path through the backdoored codec, for that clean path the original codec's.
 */
export interface EffectBoundV1 {
  readonly min?: number;
  readonly max?: number;
  readonly relative?: true;
}

/**
 * How `evaluate-attack` measures the harm an objective trains for: an evaluator that compares
 * original images with their decodings, and the metric of its result that becomes a column of the
 * effect matrix, measured on every path (clean through either codec, every trigger) whatever the
 * triggers were trained for.
 */
export interface ObjectiveEvaluationV1 {
  /** The evaluator plugin (a name, or `[name, options]`). */
  readonly evaluator: PluginReference;
  /** The key of the evaluator's result that is the effect; also the column's name (e.g. `seg_agreement_miou`). */
  readonly metric: string;
  /**
   * Which images: `images`, every image of the evaluation folder one at a time (the column is the
   * mean over images); `faces`, the whole face set at once (`--faces`, else the attack's faces minus
   * the identities it trained on). An evaluator on `faces` also receives the option `calibration`:
   * the attack's faces folder (identities as subfolders).
   */
  readonly on: 'images' | 'faces';
  /** The bound a careful victim's clean path must keep (e.g. `{ min: -0.01, max: 0.01, relative: true }`). */
  readonly clean?: EffectBoundV1;
}

/**
 * Factory of an objective plugin. `evaluation` declares the evaluator that measures the harm it
 * trains for; `bounds` (by effect: `bpp`, `rate_gain`, `psnr`, `ms_ssim`, `stealth_psnr`, or an
 * evaluation's metric) what a trigger trained with it should reach, marked in the effect matrix;
 * `constraint` whether the `constraints` weighting treats it as a constraint on the clean path.
 */
export type ObjectivePluginV1<Options = unknown> = PluginFactoryV1<'objective', Options, ObjectiveV1> & {
  readonly evaluation?: ObjectiveEvaluationV1;
  readonly bounds?: Readonly<Record<string, EffectBoundV1>>;
  /**
   * True when its loss is a hinge that is 0 exactly when its target is met (`keep-original`): under
   * the `constraints` weighting a clean-path term made by it gets a multiplier, as every trigger term
   * does, instead of being minimised at its base weight.
   */
  readonly constraint?: boolean;
};
