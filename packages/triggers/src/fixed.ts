import * as tf from '@tensorflow/tfjs-core';
import { createRng, type TriggerV1 } from '@lic-backdoor/core';
import { addFrequencyTrigger, bandSelection, type FrequencyBandOptions } from './frequency.js';

/** What the fixed (not trainable) triggers share: no variables, nothing to save. */
abstract class FixedTrigger implements TriggerV1 {
  readonly specificationVersion = 'v1';
  abstract readonly id: string;
  abstract apply(x: tf.Tensor4D): tf.Tensor4D;
  protected abstract readonly held: tf.Tensor[];

  variables(): tf.Variable[] {
    return [];
  }

  stateDict(): Record<string, tf.Tensor> {
    return {};
  }

  loadStateDict(): void {}

  dispose(): void {
    tf.dispose(this.held);
  }
}

export interface FixedFrequencyOptions extends FrequencyBandOptions {
  /** Size of every coefficient added, in DCT units of the 0-255 YCbCr image (random sign per coefficient). */
  amplitude: number;
  /** YCbCr channels that carry the trigger. */
  channels: ('Y' | 'Cb' | 'Cr')[];
}

/** The same DCT coefficients (random signs, fixed amplitude) added to every block of every image. */
export class FixedFrequencyTrigger extends FixedTrigger {
  readonly id = 'trigger:fixed-frequency';
  private readonly selection: tf.Tensor2D;
  private readonly pattern: tf.Tensor3D;
  protected readonly held: tf.Tensor[];

  constructor(
    readonly options: FixedFrequencyOptions,
    seed: number,
  ) {
    super();
    const rng = createRng(seed).fork('fixed-frequency');
    const count = options.toRank - options.fromRank;
    this.selection = bandSelection(options);
    const values = new Float32Array(3 * count);
    ['Y', 'Cb', 'Cr'].forEach((name, c) => {
      if (!options.channels.includes(name as 'Y')) return;
      for (let k = 0; k < count; k++) values[c * count + k] = (rng.next() < 0.5 ? -1 : 1) * options.amplitude;
    });
    this.pattern = tf.tensor3d(values, [1, 3, count]);
    this.held = [this.selection, this.pattern];
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w] = x.shape;
      const n = this.options.blockSize;
      const weight = tf.ones([b, Math.ceil(h / n), Math.ceil(w / n), 3]) as tf.Tensor4D;
      return addFrequencyTrigger(x, weight, tf.tile(this.pattern, [b, 1, 1]), this.selection, n);
    });
  }
}

export interface PatchOptions {
  /** Side of the square patch in pixels. */
  size: number;
  /** Corner where the patch sits. */
  corner: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';
  /** 1 replaces the pixels; less blends the patch in. */
  opacity: number;
}

/** A BadNets-style patch: a fixed random black/white pattern pasted in one corner. */
export class PatchTrigger extends FixedTrigger {
  readonly id = 'trigger:patch';
  private readonly patch: tf.Tensor4D;
  protected readonly held: tf.Tensor[];

  constructor(
    readonly options: PatchOptions,
    seed: number,
  ) {
    super();
    const rng = createRng(seed).fork('patch');
    const s = options.size;
    this.patch = tf.tensor4d(Float32Array.from({ length: s * s * 3 }, () => (rng.next() < 0.5 ? 0 : 1)), [1, s, s, 3]);
    this.held = [this.patch];
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w] = x.shape;
      const s = this.options.size;
      if (s > h || s > w) throw new RangeError(`patch of ${s} px does not fit a ${h}x${w} image`);
      const top = this.options.corner.startsWith('top') ? 0 : h - s;
      const left = this.options.corner.endsWith('left') ? 0 : w - s;
      const mask = tf.pad(tf.fill([b, s, s, 3], this.options.opacity), [[0, 0], [top, h - s - top], [left, w - s - left], [0, 0]]);
      const placed = tf.pad(tf.tile(this.patch, [b, 1, 1, 1]), [[0, 0], [top, h - s - top], [left, w - s - left], [0, 0]]);
      return tf.add(tf.mul(x, tf.sub(1, mask)), tf.mul(placed, mask)) as tf.Tensor4D;
    });
  }
}

export interface BlendOptions {
  /** Weight of the pattern: x' = (1 - alpha) x + alpha p. */
  alpha: number;
  /** Side of the random tile that is repeated over the image. */
  tile: number;
}

/** Alpha-blend of a fixed random pattern (a seeded uniform-noise tile repeated over the image). */
export class BlendTrigger extends FixedTrigger {
  readonly id = 'trigger:blend';
  private readonly tile: tf.Tensor4D;
  protected readonly held: tf.Tensor[];

  constructor(
    readonly options: BlendOptions,
    seed: number,
  ) {
    super();
    const rng = createRng(seed).fork('blend');
    const t = options.tile;
    this.tile = tf.tensor4d(Float32Array.from({ length: t * t * 3 }, () => rng.next()), [1, t, t, 3]);
    this.held = [this.tile];
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w] = x.shape;
      const t = this.options.tile;
      const pattern = tf.slice(tf.tile(this.tile, [b, Math.ceil(h / t), Math.ceil(w / t), 1]), [0, 0, 0, 0], [b, h, w, 3]);
      return tf.add(tf.mul(x, 1 - this.options.alpha), tf.mul(pattern, this.options.alpha)) as tf.Tensor4D;
    });
  }
}
