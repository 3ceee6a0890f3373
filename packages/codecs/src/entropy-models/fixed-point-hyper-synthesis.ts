import type { ConvParams } from '../layers/conv.js';

/** What h_s gives the y coding: the scales and (mean-scale models) the means at y's resolution, NCHW. */
export type HyperOutput = { scales: Float64Array; means?: Float64Array };

/** Fractional bits of the activations (z_hat and every hidden layer). */
const ACTIVATION_BITS = 16;
/** Fractional bits of the weights. */
const WEIGHT_BITS = 16;
/** Largest integer that float64 holds exactly: every partial sum must stay below it. */
const EXACT = 2 ** 53;

/** One layer of h_s with integer weights (units of 2^-16), laid out [ky, kx, in, out] for both conv kinds. */
export interface IntegerLayer {
  weight: Float64Array;
  /** In units of 2^-32. */
  bias: Float64Array;
  k: number;
  cin: number;
  cout: number;
  transposed: boolean;
  stride: number;
  /** Bound of |sum over one output| per unit of max |input|: max over outputs of sum |weight|. */
  l1: number;
  maxBias: number;
}

/** Whether a layer's sums stay exact in float64 for inputs up to `maxInput` (false for NaN). */
function exactSums(l: IntegerLayer, maxInput: number): boolean {
  return maxInput * l.l1 + l.maxBias < EXACT;
}

function integerLayer(p: ConvParams, cout: number): IntegerLayer {
  const k = p.weight.shape[0]!;
  const w = p.weight.dataSync();
  // tfjs layouts: conv [k, k, in, out], transposed conv [k, k, out, in]
  const [cin, fullOut] = p.transposed ? [p.weight.shape[3]!, p.weight.shape[2]!] : [p.weight.shape[2]!, p.weight.shape[3]!];
  const weight = new Float64Array(k * k * cin * cout);
  const l1 = new Float64Array(cout);
  for (let t = 0; t < k * k; t++)
    for (let i = 0; i < cin; i++)
      for (let o = 0; o < cout; o++) {
        const v = Math.round(w[p.transposed ? (t * fullOut + o) * cin + i : (t * cin + i) * fullOut + o]! * 2 ** WEIGHT_BITS);
        weight[(t * cin + i) * cout + o] = v;
        l1[o]! += Math.abs(v);
      }
  const b = p.bias.dataSync();
  const bias = Float64Array.from({ length: cout }, (_, o) => Math.round(b[o]! * 2 ** (ACTIVATION_BITS + WEIGHT_BITS)));
  return { weight, bias, k, cin, cout, transposed: p.transposed, stride: p.stride, l1: Math.max(...l1), maxBias: Math.max(...bias.map(Math.abs)) };
}

/**
 * A hyperprior's h_s computed in fixed point: the scales that choose each latent's CDF table and,
 * for mbt2018-mean, the means that y_hat = symbols + means adds. z_hat, the weights and every
 * activation are integers times a power of two (16 fractional bits for activations and for
 * weights), each layer's sums are exact integers (float64 holds them exactly, checked against
 * 2^53), and results are floored back to 16 fractional bits. Exact sums do not depend on the order
 * of summation, so every implementation (this one on any machine, or an integer kernel elsewhere)
 * gets the same tables and means: the encoder and a decoder running a different float library can
 * no longer disagree on a table because of a 1e-6 difference (which would wreck the rest of the
 * stream), nor on y_hat. The rate estimate stays in float32.
 */
export class FixedPointHyperSynthesis {
  private readonly layers: IntegerLayer[];
  private readonly medians: Float64Array;

  /**
   * @param hS h_s's layers (the last one's output channels are M scales, then M means when `withMeans`)
   * @param medians the entropy bottleneck's medians of z, one per channel
   * @param activation after each hidden layer (and after the last one when `finalActivation`)
   */
  constructor(
    hS: readonly ConvParams[],
    private readonly M: number,
    medians: Float32Array,
    readonly activation: 'relu' | 'leaky-relu',
    readonly finalActivation: boolean,
    private readonly withMeans = false,
  ) {
    const outputs = withMeans ? 2 * M : M;
    this.layers = hS.map((p, i) => integerLayer(p, i === hS.length - 1 ? outputs : p.transposed ? p.weight.shape[2]! : p.weight.shape[3]!));
    this.medians = Float64Array.from(medians, (m) => Math.round(m * 2 ** ACTIVATION_BITS));
  }

  /**
   * The scales (and means), each channel-major [M, 4h, 4w], from the integer z symbols
   * (channel-major [N, h, w]); exact multiples of 2^-32.
   */
  run(zSymbols: Int32Array, h: number, w: number): { scales: Float64Array; means?: Float64Array } {
    let a = this.input(zSymbols, h, w);
    let [ah, aw] = [h, w];
    let acc: Float64Array = new Float64Array(0);
    this.layers.forEach((layer, li) => {
      [acc, ah, aw] = this.layer(layer, a, ah, aw);
      if (li === this.layers.length - 1) return;
      a = new Float64Array(acc.length);
      for (let i = 0; i < acc.length; i++) a[i] = this.act(Math.floor(acc[i]! / 2 ** WEIGHT_BITS));
    });
    const outputs = this.withMeans ? 2 * this.M : this.M;
    const out = new Float64Array(outputs * ah * aw);
    for (let k = 0; k < ah * aw; k++)
      for (let c = 0; c < outputs; c++) {
        const v = acc[k * outputs + c]!;
        out[c * ah * aw + k] = (this.finalActivation ? Math.max(0, v) : v) / 2 ** (ACTIVATION_BITS + WEIGHT_BITS);
      }
    return this.split(out);
  }

  /** z_hat = symbols (channel-major [N, h, w]) + medians in units of 2^-16, HWC: the first layer's input. */
  input(zSymbols: Int32Array, h: number, w: number): Float64Array {
    const n = this.medians.length;
    const a = new Float64Array(h * w * n);
    for (let c = 0; c < n; c++) for (let k = 0; k < h * w; k++) a[k * n + c] = zSymbols[c * h * w + k]! * 2 ** ACTIVATION_BITS + this.medians[c]!;
    return a;
  }

  /** The layers as integers, for an exact kernel elsewhere (`fixedPointHyperSynthesisToOnnx`). */
  integerLayers(): readonly IntegerLayer[] {
    return this.layers;
  }

  /** Whether layer i's sums stay exact in float64 for inputs up to `maxInput` (units of 2^-16): `run` throws otherwise. */
  exactFor(i: number, maxInput: number): boolean {
    return exactSums(this.layers[i]!, maxInput);
  }

  /** The scales (and means) from the channel-major output of the last layer. */
  split(out: Float64Array): { scales: Float64Array; means?: Float64Array } {
    const size = out.length / (this.withMeans ? 2 : 1);
    return this.withMeans ? { scales: out.subarray(0, size), means: out.subarray(size) } : { scales: out };
  }

  private act(v: number): number {
    return v >= 0 ? v : this.activation === 'relu' ? 0 : Math.floor(v / 100);
  }

  /** One conv (stride 1) or transposed conv (stride 2, output padding 1), CompressAI's padding k/2; sums in units of 2^-32. */
  private layer(l: IntegerLayer, a: Float64Array, h: number, w: number): [Float64Array, number, number] {
    let maxInput = 0;
    for (const v of a) maxInput = Math.max(maxInput, Math.abs(v));
    if (!exactSums(l, maxInput)) throw new Error(`fixed-point h_s: sums would exceed 2^53 (inputs up to ${maxInput / 2 ** ACTIVATION_BITS}); the hyperprior's weights or latents are out of range`);
    const { k, cin, cout, stride } = l;
    const pad = k >> 1;
    const [oh, ow] = l.transposed ? [h * stride, w * stride] : [Math.ceil(h / stride), Math.ceil(w / stride)];
    const out = new Float64Array(oh * ow * cout);
    for (let p = 0; p < oh * ow; p++) out.set(l.bias, p * cout);
    for (let iy = 0; iy < h; iy++)
      for (let ix = 0; ix < w; ix++)
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            // transposed: input (iy, ix) adds into output (iy s + ky - pad, ...); conv: output (o) reads input (o s + ky - pad)
            let oy: number;
            let ox: number;
            if (l.transposed) {
              [oy, ox] = [iy * stride + ky - pad, ix * stride + kx - pad];
            } else {
              const [ty, tx] = [iy - ky + pad, ix - kx + pad];
              if (ty % stride !== 0 || tx % stride !== 0) continue;
              [oy, ox] = [ty / stride, tx / stride];
            }
            if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
            const o0 = (oy * ow + ox) * cout;
            const w0 = (ky * k + kx) * cin;
            for (let i = 0; i < cin; i++) {
              const v = a[(iy * w + ix) * cin + i]!;
              if (v === 0) continue;
              const wi = (w0 + i) * cout;
              for (let o = 0; o < cout; o++) out[o0 + o]! += v * l.weight[wi + o]!;
            }
          }
    return [out, oh, ow];
  }
}
