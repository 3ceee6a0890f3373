import * as tf from '@tensorflow/tfjs-core';
import { pmfToQuantizedCdf, type CdfTables } from '@lic-backdoor/entropy';
import type { Rng } from '@lic-backdoor/core';
import { lowerBound, stopGradient as stopGradientOp } from '../layers/lower-bound.js';

export const LIKELIHOOD_BOUND = 1e-9;

/**
 * The non-parametric factorized density of Ballé et al. 2018 ("EntropyBottleneck"), one per
 * channel, with CompressAI's parameter names, filters (3, 3, 3, 3), init scale 10 and tail mass
 * 1e-9. Works on NHWC latents.
 */
export class EntropyBottleneck {
  readonly filters = [3, 3, 3, 3];
  readonly matrices: tf.Variable[] = [];
  readonly biases: tf.Variable[] = [];
  readonly factors: tf.Variable[] = [];
  /** [C, 1, 3]: lower tail, median, upper tail of each channel's density. */
  readonly quantiles: tf.Variable;
  readonly tailMass = 1e-9;
  readonly target: number;
  /** Integer tables built by `update()` (and loaded from weights). */
  tables: (CdfTables & { cdfLengths: Int32Array }) | undefined;

  constructor(
    readonly channels: number,
    rng: Rng,
    readonly prefix = 'entropy_bottleneck',
  ) {
    const initScale = 10;
    const dims = [1, ...this.filters, 1];
    const scale = initScale ** (1 / (this.filters.length + 1));
    for (let i = 0; i < this.filters.length + 1; i++) {
      const init = Math.log(Math.expm1(1 / scale / dims[i + 1]!));
      this.matrices.push(tf.variable(tf.fill([channels, dims[i + 1]!, dims[i]!], init), true));
      this.biases.push(tf.variable(tf.tensor3d(rng.uniformArray(channels * dims[i + 1]!, -0.5, 0.5), [channels, dims[i + 1]!, 1]), true));
      if (i < this.filters.length) this.factors.push(tf.variable(tf.zeros([channels, dims[i + 1]!, 1]), true));
    }
    this.quantiles = tf.variable(tf.tile(tf.tensor3d([-initScale, 0, initScale], [1, 1, 3]), [channels, 1, 1]), true);
    this.target = Math.log(2 / this.tailMass - 1);
  }

  /** Density parameters (trained by the rate loss). */
  densityVariables(): tf.Variable[] {
    return this.named().filter(([k]) => !k.endsWith('.quantiles')).map(([, v]) => v);
  }

  /** Every parameter with its CompressAI state-dict key, in CompressAI's registration order. */
  named(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    this.matrices.forEach((m, i) => {
      out.push([`${this.prefix}._matrix${i}`, m], [`${this.prefix}._bias${i}`, this.biases[i]!]);
      if (this.factors[i]) out.push([`${this.prefix}._factor${i}`, this.factors[i]!]);
    });
    out.push([`${this.prefix}.quantiles`, this.quantiles]);
    return out;
  }

  /** Cumulative logits of values [C, 1, K] -> [C, 1, K]. */
  logitsCumulative(inputs: tf.Tensor, stopGradient: boolean): tf.Tensor {
    const sg = (v: tf.Tensor) => (stopGradient ? stopGradientOp(v) : v);
    let logits = inputs;
    for (let i = 0; i < this.matrices.length; i++) {
      logits = tf.add(tf.matMul(tf.softplus(sg(this.matrices[i]!)), logits), sg(this.biases[i]!));
      if (i < this.factors.length) logits = tf.add(logits, tf.mul(tf.tanh(sg(this.factors[i]!)), tf.tanh(logits)));
    }
    return logits;
  }

  /** Likelihood of each value of [C, 1, K] under its channel's density (as a difference of sigmoids). */
  likelihood(values: tf.Tensor, stopGradient = false): tf.Tensor {
    const lower = this.logitsCumulative(tf.sub(values, 0.5), stopGradient);
    const upper = this.logitsCumulative(tf.add(values, 0.5), stopGradient);
    return tf.sub(tf.sigmoid(upper), tf.sigmoid(lower));
  }

  /** [C] medians. */
  medians(): tf.Tensor1D {
    return tf.reshape(tf.slice(this.quantiles, [0, 0, 1], [-1, 1, 1]), [this.channels]) as tf.Tensor1D;
  }

  /**
   * Training pass (`noise` given: y + noise) or evaluation pass (rounding around the median) of
   * an NHWC latent. Returns the quantized latent and the likelihood of each element.
   */
  forward(y: tf.Tensor4D, noise?: tf.Tensor): { yHat: tf.Tensor4D; likelihoods: tf.Tensor4D } {
    return tf.tidy(() => {
      const yHat = (noise ? tf.add(y, noise) : this.dequantize(this.quantize(y))) as tf.Tensor4D;
      const [b, h, w, c] = yHat.shape;
      const values = tf.reshape(tf.transpose(tf.reshape(yHat, [b * h * w, c])), [c, 1, b * h * w]);
      const lik = lowerBound(this.likelihood(values), LIKELIHOOD_BOUND);
      const likelihoods = tf.reshape(tf.transpose(tf.reshape(lik, [c, b * h * w])), [b, h, w, c]) as tf.Tensor4D;
      return { yHat, likelihoods };
    });
  }

  /** Integer symbols round(y - median) (as float tensor). */
  quantize(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.round(tf.sub(y, this.medians())) as tf.Tensor4D);
  }

  /** symbols + median. */
  dequantize(symbols: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(symbols, this.medians()) as tf.Tensor4D);
  }

  /** Auxiliary loss that moves the quantiles to the density's tails and median (gradient to quantiles only). */
  auxLoss(): tf.Scalar {
    return tf.tidy(() => {
      const logits = this.logitsCumulative(this.quantiles, true);
      return tf.sum(tf.abs(tf.sub(logits, tf.tensor1d([-this.target, 0, this.target]))));
    });
  }

  /**
   * Builds the integer CDF tables from the current density and quantiles (CompressAI's
   * `update()` without the quantile search): per channel, the pmf at integer offsets around the
   * median from ceil(median - lower) below to ceil(upper - median) above, plus the tail mass.
   */
  update(): void {
    const q = this.quantiles.arraySync() as number[][][];
    const medians = q.map((c) => c[0]![1]!);
    const minima = q.map((c, i) => Math.max(0, Math.ceil(medians[i]! - c[0]![0]!)));
    const maxima = q.map((c, i) => Math.max(0, Math.ceil(c[0]![2]! - medians[i]!)));
    const lengths = minima.map((m, i) => m + maxima[i]! + 1);
    const maxLength = Math.max(...lengths);
    const samples = tf.tidy(() =>
      tf.add(tf.reshape(tf.range(0, maxLength), [1, 1, maxLength]), tf.reshape(tf.tensor1d(medians.map((m, i) => m - minima[i]!)), [this.channels, 1, 1])),
    );
    const [pmf, lowerTail, upperTail] = tf.tidy(() => {
      const lower = this.logitsCumulative(tf.sub(samples, 0.5), true);
      const upper = this.logitsCumulative(tf.add(samples, 0.5), true);
      return [
        tf.sub(tf.sigmoid(upper), tf.sigmoid(lower)).arraySync() as number[][][],
        tf.sigmoid(tf.slice(lower, [0, 0, 0], [-1, 1, 1])).arraySync() as number[][][],
        tf.sigmoid(tf.neg(tf.slice(upper, [0, 0, maxLength - 1], [-1, 1, 1]))).arraySync() as number[][][],
      ];
    });
    samples.dispose();
    const cdfs = lengths.map((n, i) => pmfToQuantizedCdf(pmf[i]![0]!.slice(0, n), lowerTail[i]![0]![0]! + upperTail[i]![0]![0]!));
    this.tables = { cdfs, offsets: Int32Array.from(minima, (m) => -m), cdfLengths: Int32Array.from(lengths, (n) => n + 2) };
  }

  /** Every variable, density and quantiles. */
  variables(): tf.Variable[] {
    return this.named().map(([, v]) => v);
  }
}
