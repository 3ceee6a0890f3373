import type { Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { PluginFactoryV1 } from './plugin.js';

/**
 * A backdoor trigger: maps clean images to triggered images that should look the same to a
 * person. Adaptive triggers are small networks trained with the backdoored encoder.
 */
export interface TriggerV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** `trigger:<name>` of the factory that made it. */
  readonly id: string;
  /**
   * Adds the trigger to a batch of [B, H, W, 3] RGB images in [0, 1] and returns the triggered
   * batch, clamped to [0, 1]. Differentiable with respect to `variables()`. Does not dispose its
   * input.
   */
  apply(x: Tensor4D): Tensor4D;
  /** Trainable variables of the trigger (empty for fixed triggers). */
  variables(): Variable[];
  /** Named tensors to save as safetensors, and to restore with `loadStateDict`. */
  stateDict(): Record<string, Tensor>;
  /** Restores what `stateDict` returned; throws on a missing or misshapen tensor. */
  loadStateDict(state: Record<string, Tensor>): void;
  /** Releases every tensor the trigger holds. */
  dispose(): void;
}

/** Factory of a trigger plugin. */
export type TriggerPluginV1<Options = unknown> = PluginFactoryV1<'trigger', Options, TriggerV1>;
