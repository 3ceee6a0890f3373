import * as tf from '@tensorflow/tfjs-core';

/** Zero padding (centred, as CompressAI's evaluation does) to a multiple of `multiple`. */
export function padCentred(x: tf.Tensor4D, multiple = 64): { padded: tf.Tensor4D; top: number; left: number } {
  const [, h, w] = x.shape;
  const ph = Math.ceil(h / multiple) * multiple - h;
  const pw = Math.ceil(w / multiple) * multiple - w;
  const top = Math.floor(ph / 2);
  const left = Math.floor(pw / 2);
  if (!ph && !pw) return { padded: tf.clone(x), top, left };
  return { padded: tf.pad(x, [[0, 0], [top, ph - top], [left, pw - left], [0, 0]]), top, left };
}

/** Crops back what `padCentred` added. */
export function cropTo(x: tf.Tensor4D, top: number, left: number, h: number, w: number): tf.Tensor4D {
  return tf.slice(x, [0, top, left, 0], [-1, h, w, -1]);
}

/** Crops a decoded [1, H', W', 3] image (H', W' multiples of 64) to H x W, centred, and clamps to [0, 1]. */
export function cropDecoded(xHat: tf.Tensor4D, height: number, width: number, multiple = 64): tf.Tensor4D {
  return tf.tidy(() => {
    const ph = Math.ceil(height / multiple) * multiple;
    const pw = Math.ceil(width / multiple) * multiple;
    return tf.clipByValue(cropTo(xHat, Math.floor((ph - height) / 2), Math.floor((pw - width) / 2), height, width), 0, 1) as tf.Tensor4D;
  });
}

/** The table index of each latent value in channel-major order when each channel has its own table. */
export function channelIndexes(c: number, h: number, w: number): Int32Array {
  const indexes = new Int32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) indexes.fill(ch, ch * h * w, (ch + 1) * h * w);
  return indexes;
}

/**
 * y_hat = symbols + offset in float32, channel-major [C, h, w] like the symbols: `offsets` holds
 * one value per channel (the medians) or one per element (the means). Every runtime builds its
 * decoder input with this, so all start from the same y_hat.
 */
export function dequantizeSymbols(symbols: Int32Array, offsets: ArrayLike<number>, c: number, h: number, w: number): Float32Array {
  const plane = h * w;
  const perElement = offsets.length === symbols.length;
  if (!perElement && offsets.length !== c) throw new RangeError(`${offsets.length} offsets for ${c} channels of ${plane} values`);
  return Float32Array.from(symbols, (v, i) => v + offsets[perElement ? i : Math.floor(i / plane)]!);
}
