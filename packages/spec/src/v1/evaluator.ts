import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { PluginFactoryV1 } from './plugin.js';

/** A measured value together with what it means. results.json stores both. */
export interface Metric {
  /** The value. `NaN` is not allowed; a metric that cannot be computed is left out. */
  value: number;
  /** Unit (`dB`, `bpp`, `ratio`, `ms`), or `''` for plain numbers. */
  unit: string;
  /** Definition in one sentence, precise enough to recompute the value. */
  definition: string;
}

/**
 * Measures what a victim sees: compares original images with what came out of a codec.
 */
export interface EvaluatorV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** `evaluator:<name>` of the factory that made it. */
  readonly id: string;
  /**
   * Compares pairs of images, each [1, H, W, 3] RGB in [0, 1], `original[i]` with `decoded[i]`,
   * and returns metrics by name for the whole set (means or rates over the pairs). Does not
   * dispose its inputs.
   */
  evaluate(original: readonly Tensor4D[], decoded: readonly Tensor4D[]): Promise<Record<string, Metric>>;
  /** Releases any tensors or inference sessions the evaluator holds. */
  dispose(): Promise<void> | void;
}

/** Factory of an evaluator plugin. */
export type EvaluatorPluginV1<Options = unknown> = PluginFactoryV1<'evaluator', Options, EvaluatorV1>;
