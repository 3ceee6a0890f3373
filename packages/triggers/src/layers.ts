import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@lic-backdoor/core';

/** A 'same'-padded convolution with its variables (HWIO weight, bias). */
export interface Conv {
  name: string;
  weight: tf.Variable;
  bias: tf.Variable;
}

/**
 * He-initialised k x k convolution from `cin` to `cout` channels; `scale` shrinks the initial
 * weights; biases start at 0, or normal with standard deviation `biasStd`.
 */
export function createConv(rng: Rng, name: string, k: number, cin: number, cout: number, scale = 1, biasStd = 0): Conv {
  const std = scale * Math.sqrt(2 / (k * k * cin));
  const w = Float32Array.from({ length: k * k * cin * cout }, () => rng.normal() * std);
  const b = Float32Array.from({ length: cout }, () => rng.normal() * biasStd);
  return {
    name,
    weight: tf.variable(tf.tensor4d(w, [k, k, cin, cout])),
    bias: tf.variable(tf.tensor1d(b)),
  };
}

export function conv(x: tf.Tensor4D, c: Conv): tf.Tensor4D {
  return tf.add(tf.conv2d(x, c.weight as tf.Tensor4D, 1, 'same'), c.bias) as tf.Tensor4D;
}

/** (conv3x3 - ReLU) x 2 then 2 x 2 max-pooling: one stage of the trigger networks. */
export function stage(x: tf.Tensor4D, convs: readonly [Conv, Conv]): tf.Tensor4D {
  return tf.maxPool(tf.relu(conv(tf.relu(conv(x, convs[0])), convs[1])), 2, 2, 'valid');
}

/** Variables of a list of convolutions, in order. */
export function convVariables(convs: readonly Conv[]): tf.Variable[] {
  return convs.flatMap((c) => [c.weight, c.bias]);
}

/** Named tensors of a list of convolutions (`<name>.weight`, `<name>.bias`). */
export function convState(convs: readonly Conv[]): Record<string, tf.Tensor> {
  return Object.fromEntries(convs.flatMap((c) => [[`${c.name}.weight`, c.weight], [`${c.name}.bias`, c.bias]]));
}

/** Assigns saved tensors to the convolutions; throws on a missing or misshapen tensor. */
export function loadConvState(convs: readonly Conv[], state: Record<string, tf.Tensor>, owner: string): void {
  for (const c of convs) {
    for (const [key, v] of [[`${c.name}.weight`, c.weight], [`${c.name}.bias`, c.bias]] as const) {
      const t = state[key];
      if (!t) throw new Error(`${owner}: state dict lacks '${key}'`);
      if (t.shape.join() !== v.shape.join()) throw new Error(`${owner}: '${key}' is [${t.shape.join(', ')}], expected [${v.shape.join(', ')}]`);
      v.assign(t);
    }
  }
}
