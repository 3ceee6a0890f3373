import * as tf from '@tensorflow/tfjs-core';
import type { Metric, TriggerV1 } from '@lic-backdoor/core';

/** Definitions stored next to every value in results.json. */
export const METRIC_DEFINITIONS = {
  psnr: 'PSNR in dB on RGB 0-255 after rounding both images to 8 bits: 10 log10(255^2 / MSE over all pixels and channels)',
  msSsim:
    'MS-SSIM (Wang et al. 2003) on RGB 0-255 after 8-bit rounding: 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 11x11 Gaussian window with sigma 1.5, K1 0.01, K2 0.03, data range 255, valid filtering, 2x2 average pooling between scales; per channel, then averaged over channels',
  bpp: 'bits per pixel actually written: 8 x bytes of the bitstream file / (height x width of the original image)',
  bppEstimated: "bits per pixel estimated by the codec's entropy model: -sum(log2(likelihoods of the quantized latents)) / (height x width)",
} as const;

/** 8-bit rounding as a tensor op, the same as image writing: floor(clamp(x, 0, 1) x 255 + 0.5). */
export function to8Bit(x: tf.Tensor): tf.Tensor {
  return tf.floor(tf.add(tf.mul(tf.clipByValue(x, 0, 1), 255), 0.5));
}

/**
 * Where a trigger's block grid starts. `codec`: at the corner of the frame a learned codec pads
 * the image to (zeros, centred, to a multiple of 64: CompressAI's convention and every learned
 * codec here), so that the trigger's blocks sit on the encoder's grid whatever the image size; the
 * attacker who plants the trigger knows the victim's codec. `image`: at the image's top-left corner
 * (the same for sides that are multiples of 64, such as Kodak's 768 x 512).
 */
export type TriggerOrigin = 'codec' | 'image';

/** The side a learned codec pads images to a multiple of (centred). */
export const CODEC_FRAME = 64;

/**
 * The triggered image as a victim receives it: trigger applied with its block grid from `origin`,
 * rounded to 8 bits, in [0, 1].
 */
export function triggeredImage(trigger: TriggerV1, x: tf.Tensor4D, origin: TriggerOrigin = 'codec'): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const ph = Math.ceil(h / CODEC_FRAME) * CODEC_FRAME - h;
    const pw = Math.ceil(w / CODEC_FRAME) * CODEC_FRAME - w;
    const [top, left] = [Math.floor(ph / 2), Math.floor(pw / 2)];
    const applied =
      origin === 'image' || (!ph && !pw) ? trigger.apply(x) : tf.slice(trigger.apply(tf.pad(x, [[0, 0], [top, ph - top], [left, pw - left], [0, 0]])), [0, top, left, 0], [-1, h, w, -1]);
    return tf.div(to8Bit(applied), 255) as tf.Tensor4D;
  });
}

/** PSNR in dB between two [1, H, W, 3] images in [0, 1], both rounded to 8 bits. */
export function psnr(a: tf.Tensor4D, b: tf.Tensor4D): number {
  const mse = tf.tidy(() => tf.mean(tf.square(tf.sub(to8Bit(a), to8Bit(b)))).dataSync()[0]!);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

const WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

function gaussian1d(size = 11, sigma = 1.5): Float32Array {
  const g = Float32Array.from({ length: size }, (_, i) => Math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / s);
}

/** Separable Gaussian filtering, valid, per channel: [1, H, W, C] -> [1, H-10, W-10, C]. */
function blur(x: tf.Tensor4D, channels: number): tf.Tensor4D {
  const g = gaussian1d();
  const kh = tf.tile(tf.reshape(tf.tensor1d(g), [11, 1, 1, 1]), [1, 1, channels, 1]) as tf.Tensor4D;
  const kw = tf.tile(tf.reshape(tf.tensor1d(g), [1, 11, 1, 1]), [1, 1, channels, 1]) as tf.Tensor4D;
  return tf.depthwiseConv2d(tf.depthwiseConv2d(x, kh, 1, 'valid'), kw, 1, 'valid');
}

/** One image's side of SSIM at one scale: the image (0-255) and its blurred mean and second moment. */
interface Side {
  x: tf.Tensor4D;
  mean: tf.Tensor4D;
  square: tf.Tensor4D;
}

function side(x: tf.Tensor4D): Side {
  const c = x.shape[3];
  return { x, mean: blur(x, c), square: blur(tf.mul(x, x) as tf.Tensor4D, c) };
}

/** Mean SSIM and mean contrast-structure term per channel, on 0-255 images. */
function ssimTerms(a: Side, b: Side): { ssim: tf.Tensor1D; cs: tf.Tensor1D } {
  const C1 = (0.01 * 255) ** 2;
  const C2 = (0.03 * 255) ** 2;
  const [mx, my] = [a.mean, b.mean];
  const sxx = tf.sub(a.square, tf.mul(mx, mx));
  const syy = tf.sub(b.square, tf.mul(my, my));
  const sxy = tf.sub(blur(tf.mul(a.x, b.x) as tf.Tensor4D, a.x.shape[3]), tf.mul(mx, my));
  const csMap = tf.div(tf.add(tf.mul(2, sxy), C2), tf.add(tf.add(sxx, syy), C2));
  const lMap = tf.div(tf.add(tf.mul(2, tf.mul(mx, my)), C1), tf.add(tf.add(tf.mul(mx, mx), tf.mul(my, my)), C1));
  return { ssim: tf.mean(tf.mul(lMap, csMap), [0, 1, 2]) as tf.Tensor1D, cs: tf.mean(csMap, [0, 1, 2]) as tf.Tensor1D };
}

function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  const padded = h % 2 || w % 2 ? (tf.pad(x, [[0, 0], [h % 2, h % 2], [w % 2, w % 2], [0, 0]]) as tf.Tensor4D) : x;
  return tf.avgPool(padded, 2, 2, 'valid');
}

/** The image (rounded to 8 bits) and its statistics at each of the MS-SSIM scales. */
function pyramid(image: tf.Tensor4D): Side[] {
  const [, h, w] = image.shape;
  if (Math.min(h, w) <= 160) throw new RangeError(`MS-SSIM needs images larger than 160 pixels on each side, got ${w}x${h}`);
  const kept = tf.tidy(() => {
    const tensors: tf.Tensor4D[] = [];
    let x = to8Bit(image) as tf.Tensor4D;
    for (let level = 0; level < WEIGHTS.length; level++) {
      const s = side(x);
      tensors.push(s.x, s.mean, s.square);
      if (level < WEIGHTS.length - 1) x = avgPool2(x);
    }
    return tensors;
  });
  return WEIGHTS.map((_, level) => ({ x: kept[3 * level]!, mean: kept[3 * level + 1]!, square: kept[3 * level + 2]! }));
}

function msSsimOf(a: Side[], b: Side[]): number {
  return tf.tidy(() => {
    let value: tf.Tensor = tf.onesLike(tf.mean(a[0]!.x, [0, 1, 2]));
    WEIGHTS.forEach((weight, level) => {
      const { ssim, cs } = ssimTerms(a[level]!, b[level]!);
      value = tf.mul(value, tf.pow(tf.relu(level === WEIGHTS.length - 1 ? ssim : cs), weight));
    });
    return tf.mean(value).dataSync()[0]!;
  });
}

/**
 * MS-SSIM between two [1, H, W, 3] images in [0, 1] (rounded to 8 bits): each side must be larger
 * than (11 - 1) x 2^4 = 160 pixels.
 */
export function msSsim(a: tf.Tensor4D, b: tf.Tensor4D): number {
  const against = msSsimAgainst(a);
  try {
    return against.measure(b);
  } finally {
    against.dispose();
  }
}

/**
 * MS-SSIM of several images against one reference, the reference's side computed once (the same
 * values as `msSsim(reference, image)`); `dispose` frees it.
 */
export function msSsimAgainst(reference: tf.Tensor4D): { measure(image: tf.Tensor4D): number; dispose(): void } {
  const free = (sides: Side[]) => tf.dispose(sides.flatMap((s) => [s.x, s.mean, s.square]));
  const ref = pyramid(reference);
  return {
    measure(image) {
      const other = pyramid(image);
      try {
        return msSsimOf(ref, other);
      } finally {
        free(other);
      }
    },
    dispose: () => free(ref),
  };
}

/** A metric value with its unit and definition. */
export function metric(value: number, unit: string, definition: string): Metric {
  return { value, unit, definition };
}
