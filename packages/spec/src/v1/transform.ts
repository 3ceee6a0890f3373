import type { Tensor } from '@tensorflow/tfjs-core';
import type { PluginFactoryV1 } from './plugin.js';

/**
 * A fixed, differentiable, invertible change of representation of an image batch: a colour
 * space, a block DCT. Transforms hold no trainable state.
 */
export interface TransformV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** `transform:<name>` of the factory that made it. */
  readonly id: string;
  /**
   * Human-readable layout of what `forward` returns, for example
   * `'[B, H/n, W/n, n*n, C] block DCT coefficients, index u*n+v'`.
   */
  readonly outputLayout: string;
  /**
   * Maps an image batch to the transformed representation. Input: NHWC float32. Must be made of
   * tfjs ops only, so that gradients flow through it. Does not dispose its input.
   */
  forward(x: Tensor): Tensor;
  /** Exact inverse of `forward` (up to float rounding). Does not dispose its input. */
  inverse(y: Tensor): Tensor;
}

/** Factory of a transform plugin. */
export type TransformPluginV1<Options = unknown> = PluginFactoryV1<'transform', Options, TransformV1>;
