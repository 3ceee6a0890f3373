import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import type { PluginFactoryV1 } from './plugin.js';
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

/** Factory of an objective plugin. */
export type ObjectivePluginV1<Options = unknown> = PluginFactoryV1<'objective', Options, ObjectiveV1>;
