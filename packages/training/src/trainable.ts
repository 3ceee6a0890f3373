import * as tf from '@tensorflow/tfjs-core';

/** One shard of a training batch, as a trainable's loss sees it. */
export interface ShardBatch {
  /** The shard's examples, [b, H, W, C] float32 (b = the shard's share of the batch). */
  x: tf.Tensor4D;
  /**
   * One seed per example of the shard, the same whatever the number of workers: everything random
   * in the loss (quantization noise) must be drawn per example from these, so that results do
   * not depend on how the batch was split (see `perExampleUniform`).
   */
  seeds: readonly number[];
  /** Index of the optimizer step (0-based). */
  step: number;
  /** Data source of each example of the shard (for example `photos`, `faces`), when the caller says. */
  sources?: readonly string[];
  /**
   * Numbers the caller computed for this step (for example loss weights from earlier steps);
   * every shard of a step receives the same values.
   */
  context?: Readonly<Record<string, number>>;
  /** The tensors the trainable's `constants` computed for this shard, when it has that method. */
  constants?: Readonly<Record<string, tf.Tensor>>;
}

/** What a group's loss function returns: the loss, or the loss with metrics to log. */
export type LossOutput = tf.Scalar | { loss: tf.Scalar; metrics?: Record<string, tf.Scalar> };

/** Variables trained together by one optimizer, and their loss. */
export interface ParameterGroup {
  /** Variables of this group, in a fixed order (it is the layout of the shared buffers). */
  variables: tf.Variable[];
  /**
   * Loss of the group on a shard: a MEAN over the shard's examples (or a term that does not
   * depend on the examples, like an auxiliary loss). The engine weights each shard by its share
   * of the batch, so the summed gradient is the gradient of the whole batch's mean.
   * Absent: the group is trained by the trainable's `jointLoss` (one forward and backward pass
   * for every such group, each keeping its own optimizer).
   */
  loss?(batch: ShardBatch): LossOutput;
}

/**
 * A model being trained: parameter groups by name (for example `main` with Adam 1e-4 and `aux`
 * with Adam 1e-3 for a codec's quantiles). Built identically in the main thread and in each
 * worker from the same module and options.
 */
export interface Trainable {
  groups: Record<string, ParameterGroup>;
  /**
   * Loss of the groups that have no `loss` of their own, differentiated once with respect to all
   * their variables (for example an encoder and trigger networks trained together at different
   * learning rates). Reported as the `joint` loss, its metrics as `joint.<name>`.
   */
  jointLoss?(batch: ShardBatch): LossOutput;
  /**
   * Tensors that the losses use as constants of the gradient (for example a frozen reference
   * model's outputs on the shard), computed before the gradient passes, so that their
   * intermediate tensors are not held for the backward pass. The losses receive them as
   * `batch.constants`; the engine disposes them after the step.
   */
  constants?(batch: ShardBatch): Record<string, tf.Tensor>;
  /** Releases the trainable's tensors. */
  dispose?(): void;
}

/**
 * Where workers find the trainable: a module (absolute path, file URL or package specifier that
 * resolves from the worker) whose export `exportName` (default `createTrainable`) is a
 * `TrainableFactory`, and the options passed to it. Options must survive structured cloning.
 */
export interface TrainableSpec {
  module: string;
  exportName?: string;
  options: unknown;
}

/** Builds a trainable from options; must be deterministic in its options. */
export type TrainableFactory = (options: unknown) => Trainable | Promise<Trainable>;

/**
 * Uniform noise in [low, high) for a batch whose examples have their own seeds: example i's
 * noise depends only on seeds[i] and the per-example shape, never on how the batch was split.
 */
export function perExampleUniform(shape: readonly number[], seeds: readonly number[], low = -0.5, high = 0.5): tf.Tensor {
  if (shape[0] !== seeds.length) throw new RangeError(`batch of ${shape[0]} examples but ${seeds.length} seeds`);
  const one = [1, ...shape.slice(1)];
  return tf.tidy(() => tf.concat(seeds.map((s) => tf.randomUniform(one, low, high, 'float32', s)), 0));
}
