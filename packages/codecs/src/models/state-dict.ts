import { permute4d } from '@lic-backdoor/core';
import * as tf from '@tensorflow/tfjs-core';
import type { ConvParams } from '../layers/conv.js';

/** One named array as safetensors stores it (float32 or int32), in PyTorch layout. */
export interface StateTensor {
  shape: number[];
  data: Float32Array | Int32Array;
}

export type StateDict = Record<string, StateTensor>;

export function floatTensor(t: tf.Tensor): StateTensor {
  return { shape: [...t.shape], data: t.dataSync() as Float32Array };
}

export function scalarBuffer(value: number): StateTensor {
  return { shape: [1], data: new Float32Array([value]) };
}

/** A conv's weight and bias in PyTorch layout (OIHW, or IOHW for a transposed conv). */
export function convState(p: ConvParams, name: string, out: StateDict): void {
  const w = floatTensor(p.weight);
  out[`${name}.weight`] = permute4d(w.data as Float32Array, w.shape, [3, 2, 0, 1]);
  out[`${name}.bias`] = floatTensor(p.bias);
}

/** Missing keys, unexpected keys and shape mismatches, as one error message, or undefined. */
export function checkKeys(state: Record<string, { shape: number[] }>, expected: Record<string, number[]>): string | undefined {
  const problems: string[] = [];
  for (const [k, shape] of Object.entries(expected)) {
    if (!state[k]) problems.push(`missing '${k}'`);
    else if (shape.length && state[k]!.shape.join(',') !== shape.join(',')) problems.push(`'${k}' is [${state[k]!.shape}] where [${shape}] is expected`);
  }
  for (const k of Object.keys(state)) if (!(k in expected)) problems.push(`unexpected '${k}'`);
  return problems.length ? problems.join('; ') : undefined;
}

/** Loads a PyTorch-layout conv weight and bias into a conv's variables. */
export function loadConv(p: ConvParams, name: string, state: Record<string, { shape: number[]; data: ArrayLike<number> }>): void {
  const w = state[`${name}.weight`]!;
  const hwio = permute4d(Float32Array.from(w.data), w.shape, [2, 3, 1, 0]);
  p.weight.assign(tf.tensor4d(hwio.data, hwio.shape as [number, number, number, number]));
  p.bias.assign(tf.tensor1d(Float32Array.from(state[`${name}.bias`]!.data)));
}

/**
 * The CDF tables an entropy model's buffers hold (`<prefix>._quantized_cdf` [K, W], `._offset` [K],
 * `._cdf_length` [K]), each row cut to its length, as CompressAI's coder reads them; undefined when
 * the buffers are empty (a model saved before `update()`) or disagree in K.
 */
export function storedTables(state: Record<string, { shape: number[]; data: ArrayLike<number> }>, prefix: string): { cdfs: Int32Array[]; offsets: Int32Array; cdfLengths: Int32Array } | undefined {
  const [offsets, cdf, lengths] = ['_offset', '_quantized_cdf', '_cdf_length'].map((k) => state[`${prefix}.${k}`]);
  if (!offsets || !cdf || !lengths || cdf.shape.length !== 2 || offsets.data.length === 0) return undefined;
  const [rows, width] = cdf.shape as [number, number];
  if (offsets.data.length !== rows || lengths.data.length !== rows) return undefined;
  const cdfLengths = Int32Array.from(lengths.data);
  return {
    offsets: Int32Array.from(offsets.data),
    cdfLengths,
    cdfs: Array.from({ length: rows }, (_, i) => Int32Array.from(Array.prototype.slice.call(cdf.data, i * width, i * width + Math.min(width, cdfLengths[i]!)) as number[])),
  };
}
