import * as tf from '@tensorflow/tfjs-core';
import { createRng, type TriggerV1 } from '@lic-backdoor/core';
import { rgbToYcbcr } from '@lic-backdoor/transforms';
import { addFrequencyTrigger, bandSelection, padToBlocks, type FrequencyBandOptions } from './frequency.js';
import { conv, convState, convVariables, createConv, loadConvState, stage, type Conv } from './layers.js';

export interface AdaptiveFrequencyOptions extends FrequencyBandOptions {
  /** Coefficients kept per channel, by learned importance (K). */
  topK: number;
  /** Channels of the first stage of both branches (doubled at each later stage, at most 4x). */
  width: number;
  /** Largest pattern value, in DCT units of the 0-255 YCbCr image (values are `amplitude * tanh`). */
  amplitude: number;
}

/**
 * The adaptive frequency trigger of Yu et al. (CVPR 2023), as PAPER.md describes it. A pattern
 * branch runs two (conv3x3-ReLU)x2 + max-pool stages on every n x n block of the image, takes the
 * maximum over positions and blocks, and predicts per channel a value and an importance for each
 * candidate frequency; the top K by importance are kept. A weight branch (four stages over the
 * image, then a 1x1 convolution and a sigmoid shifted to (0.5, 1.5)) gives a per-block,
 * per-channel strength. The pattern, scaled per block, is added to the block DCT of the JPEG
 * YCbCr image. Differences from the reference: no batch normalisation (its batch statistics
 * would make results depend on how a batch is split across workers); the block weights are
 * bounded below, so that a trigger shrunk by the stealth term can grow again (the overall
 * strength lives in the pattern values).
 */
export class AdaptiveFrequencyTrigger implements TriggerV1 {
  readonly specificationVersion = 'v1';
  readonly id = 'trigger:adaptive-frequency';
  private readonly pattern: Conv[];
  private readonly weight: Conv[];
  private readonly heads: Conv[];
  private readonly selection: tf.Tensor2D;
  private readonly count: number;

  constructor(
    readonly options: AdaptiveFrequencyOptions,
    seed: number,
  ) {
    const rng = createRng(seed).fork('adaptive-frequency');
    const { width: c, blockSize } = options;
    if (blockSize % 4 !== 0) throw new RangeError(`block size ${blockSize} must be a multiple of 4 (two 2x2 poolings per block)`);
    this.count = options.toRank - options.fromRank;
    if (options.topK < 1 || options.topK > this.count) throw new RangeError(`topK ${options.topK} must lie in [1, ${this.count}]`);
    this.selection = bandSelection(options);
    this.pattern = [createConv(rng, 'pattern.0', 3, 3, c), createConv(rng, 'pattern.1', 3, c, c), createConv(rng, 'pattern.2', 3, c, 2 * c), createConv(rng, 'pattern.3', 3, 2 * c, 2 * c)];
    const widths = [3, c, 2 * c, 4 * c, 4 * c];
    this.weight = widths.slice(0, 4).flatMap((cin, i) => [createConv(rng, `weight.${2 * i}`, 3, cin, widths[i + 1]!), createConv(rng, `weight.${2 * i + 1}`, 3, widths[i + 1]!, widths[i + 1]!)]);
    this.heads = [
      // random-sign values of about half the amplitude from the start: a trigger the encoder can see
      createConv(rng, 'values', 1, 2 * c, 3 * this.count, 0.5, 1),
      createConv(rng, 'importance', 1, 2 * c, 3 * this.count),
      createConv(rng, 'strength', 1, 4 * c, 3, 0.1),
    ];
  }

  /** Per-image pattern [B, 3, count] (zero outside each channel's top K) and per-block weights [B, H/n, W/n, 3]. */
  triggerParts(x: tf.Tensor4D): { pattern: tf.Tensor3D; weight: tf.Tensor4D } {
    return tf.tidy(() => {
      const n = this.options.blockSize;
      const padded = padToBlocks(x, n);
      const [b, h, w] = padded.shape;
      const ycc = tf.div(rgbToYcbcr(padded, { centered: true }), 128) as tf.Tensor4D;
      const blocks = tf.reshape(tf.transpose(tf.reshape(ycc, [b, h / n, n, w / n, n, 3]), [0, 1, 3, 2, 4, 5]), [-1, n, n, 3]) as tf.Tensor4D;
      const features = stage(stage(blocks, [this.pattern[0]!, this.pattern[1]!]), [this.pattern[2]!, this.pattern[3]!]);
      const pooled = tf.max(tf.reshape(features, [b, -1, features.shape[3]]), 1);
      const summary = tf.reshape(pooled, [b, 1, 1, -1]) as tf.Tensor4D;
      const values = tf.mul(tf.tanh(tf.reshape(conv(summary, this.heads[0]!), [b, 3, this.count])), this.options.amplitude);
      const importance = tf.reshape(conv(summary, this.heads[1]!), [b, 3, this.count]);
      // the selection is a constant of the gradient (hard top-K): computed from a detached copy
      const detached = tf.tensor3d(importance.dataSync(), [b, 3, this.count]);
      const keep = tf.cast(tf.greaterEqual(detached, tf.min(tf.topk(detached, this.options.topK).values, -1, true)), 'float32');
      const pattern = tf.mul(tf.mul(values, tf.sigmoid(importance)), keep) as tf.Tensor3D;
      let map = ycc;
      for (let i = 0; i < 4; i++) map = stage(map, [this.weight[2 * i]!, this.weight[2 * i + 1]!]);
      if (n !== 16) map = tf.image.resizeBilinear(map, [h / n, w / n]);
      // in (0.5, 1.5): blocks get more or less of the pattern, but the weights cannot die out
      const weight = tf.add(tf.sigmoid(conv(map, this.heads[2]!)), 0.5) as tf.Tensor4D;
      return { pattern, weight };
    });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const { pattern, weight } = this.triggerParts(x);
      return addFrequencyTrigger(x, weight, pattern, this.selection, this.options.blockSize);
    });
  }

  private get convs(): Conv[] {
    return [...this.pattern, ...this.weight, ...this.heads];
  }

  variables(): tf.Variable[] {
    return convVariables(this.convs);
  }

  stateDict(): Record<string, tf.Tensor> {
    return convState(this.convs);
  }

  loadStateDict(state: Record<string, tf.Tensor>): void {
    loadConvState(this.convs, state, this.id);
  }

  dispose(): void {
    tf.dispose([...this.variables(), this.selection]);
  }
}
