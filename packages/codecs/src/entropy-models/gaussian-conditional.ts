import * as tf from '@tensorflow/tfjs-core';
import { pmfToQuantizedCdf, type CdfTables } from '@lic-backdoor/entropy';
import { lowerBound } from '../layers/lower-bound.js';
import { LIKELIHOOD_BOUND } from './entropy-bottleneck.js';

export const SCALE_BOUND = 0.11;
const TAIL_MASS = 1e-9;
/** -Phi^-1(tail_mass / 2) for tail mass 1e-9. */
const TAIL_MULTIPLIER = 6.109410204869;

/** CompressAI's scale table: 64 values spaced evenly in log between 0.11 and 256. */
export function scaleTable(min = SCALE_BOUND, max = 256, levels = 64): Float32Array {
  const a = Math.log(min);
  const b = Math.log(max);
  return Float32Array.from({ length: levels }, (_, i) => Math.exp(a + ((b - a) * i) / (levels - 1)));
}

/** Complementary error function, float64 (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

const standardCdf = (x: number) => 0.5 * erfc(-x / Math.SQRT2);

/**
 * The conditional Gaussian entropy model of Ballé et al. 2018 with CompressAI's names: each latent
 * is modelled as N(mean, scale) convolved with a unit uniform; scales are bounded below by 0.11 and
 * coded with one of 64 CDF tables chosen by the scale.
 */
export class GaussianConditional {
  readonly table = scaleTable();
  /** sqrt(t_i t_(i+1)) for consecutive table entries, float64: the boundaries of `indexes`. */
  private readonly midpoints = Float64Array.from({ length: this.table.length - 1 }, (_, i) => Math.sqrt(this.table[i]! * this.table[i + 1]!));
  tables: (CdfTables & { cdfLengths: Int32Array }) | undefined;
  /**
   * What the loaded state dict held: its `_quantized_cdf`/`_offset`/`_cdf_length` tables, its
   * `scale_table` and `scale_bound`, as CompressAI's `update()` left them (undefined when the file
   * had none). The default coding rebuilds its own tables; the CompressAI-compatible coding uses these.
   */
  stored: { tables: CdfTables & { cdfLengths: Int32Array }; scaleTable: Float32Array; scaleBound: number } | undefined;

  constructor(readonly prefix = 'gaussian_conditional') {}

  /** Likelihood of values (already noisy or rounded) under N(means, scales). */
  likelihood(values: tf.Tensor, scales: tf.Tensor, means?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const v = tf.abs(means ? tf.sub(values, means) : values);
      const s = lowerBound(scales, SCALE_BOUND);
      const cdf = (x: tf.Tensor) => tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
      const upper = cdf(tf.div(tf.sub(0.5, v), s));
      const lower = cdf(tf.div(tf.sub(-0.5, v), s));
      return lowerBound(tf.sub(upper, lower), LIKELIHOOD_BOUND);
    });
  }

  /**
   * -sum log2 likelihood of integer `symbols` (values minus means) under zero-mean Gaussians of
   * `scales` (same layout): `likelihood`'s formula in float64 JS, without tensors (the rate estimate
   * of a real encode, a tenth of the tfjs cost).
   */
  bits(symbols: ArrayLike<number>, scales: ArrayLike<number>): number {
    if (symbols.length !== scales.length) throw new RangeError(`${symbols.length} symbols but ${scales.length} scales`);
    const bound = Math.fround(SCALE_BOUND);
    let nats = 0;
    for (let k = 0; k < symbols.length; k++) {
      const v = Math.abs(symbols[k]!);
      const s = Math.max(scales[k]!, bound);
      nats -= Math.log(Math.max(standardCdf((0.5 - v) / s) - standardCdf((-0.5 - v) / s), LIKELIHOOD_BOUND));
    }
    return nats / Math.LN2;
  }

  /** Builds the 64 integer CDF tables (float64 JS arithmetic, deterministic). */
  update(): void {
    const cdfs: Int32Array[] = [];
    const offsets = new Int32Array(this.table.length);
    const lengths = new Int32Array(this.table.length);
    this.table.forEach((scale, i) => {
      const center = Math.ceil(scale * TAIL_MULTIPLIER);
      const length = 2 * center + 1;
      const pmf = Array.from({ length }, (_, k) => {
        const d = Math.abs(k - center);
        return standardCdf((0.5 - d) / scale) - standardCdf((-0.5 - d) / scale);
      });
      const tail = 2 * standardCdf((-0.5 - center) / scale);
      cdfs.push(pmfToQuantizedCdf(pmf, tail));
      offsets[i] = -center;
      lengths[i] = length + 2;
    });
    this.tables = { cdfs, offsets, cdfLengths: lengths };
  }

  /**
   * CompressAI's `build_indexes`: the index of the first entry of `table` >= max(scale, bound)
   * (float32 comparisons), the last entry when none is.
   */
  static firstAtLeast(scales: ArrayLike<number>, table: Float32Array, bound: number): Int32Array {
    const b = Math.fround(bound);
    const out = new Int32Array(scales.length);
    for (let k = 0; k < scales.length; k++) {
      const s = Math.max(scales[k]!, b);
      let [lo, hi] = [0, table.length - 1];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (table[mid]! >= s) hi = mid;
        else lo = mid + 1;
      }
      out[k] = lo;
    }
    return out;
  }

  /**
   * Table index of each scale: the table entry nearest to max(scale, 0.11) in log scale, i.e. the
   * number of geometric midpoints sqrt(t_i t_(i+1)) below it. CompressAI's build_indexes takes the
   * first entry >= the scale instead; with table entries 13% apart that codes a distribution wider
   * than the model's and cost 2.7-3.9% more bits than the likelihood on Kodak (mbt2018-mean, N=64),
   * against 0.03-0.05% for the nearest entry.
   */
  indexes(scales: ArrayLike<number>): Int32Array {
    const { midpoints } = this;
    const bound = Math.fround(SCALE_BOUND);
    const out = new Int32Array(scales.length);
    for (let k = 0; k < scales.length; k++) {
      const s = Math.max(scales[k]!, bound);
      // the number of midpoints below s (they ascend): binary search
      let [lo, hi] = [0, midpoints.length];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (s > midpoints[mid]!) lo = mid + 1;
        else hi = mid;
      }
      out[k] = lo;
    }
    return out;
  }
}
