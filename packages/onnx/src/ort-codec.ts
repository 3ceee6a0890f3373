import * as tf from '@tensorflow/tfjs-core';
import type { CodecV1, EncodedImage } from '@lic-backdoor/core';
import { FIXED_POINT_INPUT_LIMIT, FactorizedCodec, HyperpriorCodec, channelIndexes, padCentred, cropDecoded, dequantizeSymbols, hyperpriorToOnnx, integerSynthesisToOnnx, transformToOnnx, type HyperOutput } from '@lic-backdoor/codecs';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream } from '@lic-backdoor/entropy';
import { createSession, type OnnxSession } from './session.js';

/**
 * ONNX graphs of a learned codec: `analysis` (g_a, float), `decoder` (integer g_s) and for
 * hyperprior models `encoder` (y -> y and z symbols, float) and `hyperDecoder` (fixed-point h_s).
 */
export interface CodecGraphs {
  analysis: Uint8Array;
  decoder: Uint8Array;
  encoder?: Uint8Array;
  hyperDecoder?: Uint8Array;
}

type Sessions = { analysis: OnnxSession; decoder: OnnxSession; encoder?: OnnxSession; hyperDecoder?: OnnxSession };
type Nchw = { data: Float32Array; dims: number[] };

/**
 * Latents per tile side: g_a and g_s run tile by tile on larger images, so that memory stays
 * bounded (a 24-megapixel image's first g_a layer alone would be 3 GB). Each tile carries `HALO`
 * latents of context on every side, beyond either transform's reach (under 2 latents), so the
 * tiled g_s gives the untiled image bit for bit and the tiled g_a the same y up to float rounding.
 */
export const TILE_LATENTS = 64;
const HALO = 4;

/** One tile of a grid of h x w latents: its core [ty, ey) x [tx, ex) and, with `HALO` latents of context, its extent [ay, by) x [ax, bx). */
interface Tile {
  ty: number;
  tx: number;
  ey: number;
  ex: number;
  ay: number;
  ax: number;
  by: number;
  bx: number;
}

function* tileGrid(h: number, w: number, tile: number): Generator<Tile> {
  for (let ty = 0; ty < h; ty += tile)
    for (let tx = 0; tx < w; tx += tile) {
      const [ey, ex] = [Math.min(h, ty + tile), Math.min(w, tx + tile)];
      yield { ty, tx, ey, ex, ay: Math.max(0, ty - HALO), ax: Math.max(0, tx - HALO), by: Math.min(h, ey + HALO), bx: Math.min(w, ex + HALO) };
    }
}

/** Copies the core of a tile's result r [1, c, rh, rw] (so values per latent) into out [c, h so, w so]. */
function pasteCore<T extends Float32Array | Float64Array>(out: T, h: number, w: number, so: number, r: { data: T; dims: readonly number[] }, t: Tile): void {
  const [c, rh, rw] = [r.dims[1]!, r.dims[2]!, r.dims[3]!];
  for (let ch = 0; ch < c; ch++)
    for (let y = (t.ty - t.ay) * so; y < (t.ey - t.ay) * so; y++) {
      const from = (ch * rh + y) * rw + (t.tx - t.ax) * so;
      out.set(r.data.subarray(from, from + (t.ex - t.tx) * so), (ch * h * so + y + t.ay * so) * w * so + t.tx * so);
    }
}

/**
 * `run` on overlapping tiles of x [1, c, h si, w si] (a grid of h x w latents, si pixels each),
 * keeping each tile's core of its result [1, c', h so, w so].
 */
async function tiled(x: Nchw, si: number, so: number, tile: number, run: (x: Nchw) => Promise<Nchw>): Promise<Nchw> {
  const [, c, height, width] = x.dims as [number, number, number, number];
  const [h, w] = [height / si, width / si];
  if (h <= tile && w <= tile) return run(x);
  let out: Float32Array | undefined;
  let co = 0;
  for (const t of tileGrid(h, w, tile)) {
    const r = await run(crop(x, c, height, width, t.ay * si, t.ax * si, (t.by - t.ay) * si, (t.bx - t.ax) * si));
    co = r.dims[1]!;
    out ??= new Float32Array(co * h * so * w * so);
    pasteCore(out, h, w, so, r, t);
  }
  return { data: out!, dims: [1, co, h * so, w * so] };
}

function crop(x: Nchw, c: number, height: number, width: number, top: number, left: number, h: number, w: number): Nchw {
  const data = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) data.set(x.data.subarray((ch * height + top + y) * width + left, (ch * height + top + y) * width + left + w), (ch * h + y) * w);
  return { data, dims: [1, c, h, w] };
}

/** A learned codec whose transforms run in onnxruntime-node sessions of its exported graphs. */
abstract class OrtLearnedCodec<Base extends FactorizedCodec | HyperpriorCodec> implements CodecV1 {
  readonly specificationVersion = 'v1';
  readonly learned = true;

  protected constructor(
    readonly base: Base,
    protected readonly sessions: Sessions,
    /** Latents per tile side of g_a and g_s (`TILE_LATENTS`). */
    readonly tile = TILE_LATENTS,
  ) {}

  /** y (NCHW) of an NHWC image: g_a, tile by tile on large images. */
  protected async analyse(image: tf.Tensor4D): Promise<Nchw> {
    return tiled(await encoderInput(image), 16, 1, this.tile, async (x) => (await this.sessions.analysis.run({ x })).y!);
  }

  /** The decoded NHWC image from y_hat (NCHW): the integer g_s, tile by tile on large images. */
  protected async synthesise(yHat: Nchw, height: number, width: number): Promise<tf.Tensor4D> {
    return decoderOutput(await tiled(yHat, 1, 16, this.tile, async (y) => (await this.sessions.decoder.run({ y_hat: y })).x_hat!), height, width);
  }

  get id(): string {
    return this.base.id;
  }

  abstract compress(image: tf.Tensor4D): Promise<EncodedImage>;
  abstract decompress(bytes: Uint8Array): Promise<tf.Tensor4D>;

  dispose(): void {
    for (const s of Object.values(this.sessions)) void s.release();
    this.base.dispose();
  }
}

/**
 * Sessions of the codec's graphs on `threads` intra-op threads (default: every core). The exact
 * graphs run with optimizations off: a fusion may fold a non-integer constant into a product.
 */
async function sessions(codec: CodecV1, threads?: number): Promise<Sessions> {
  const graphs = exportCodecGraphs(codec);
  // each session keeps its memory arena (its peak) between runs: images are coded in tiles of at most
  // `TILE_LATENTS`, so that peak is bounded, and runs are 10-15% faster than with the arena off
  const options = { ...(threads ? { threads } : {}) };
  const exact = { ...options, optimization: 'disabled' as const };
  return {
    analysis: await createSession(graphs.analysis, options),
    ...(graphs.encoder ? { encoder: await createSession(graphs.encoder, options) } : {}),
    decoder: await createSession(graphs.decoder, exact),
    ...(graphs.hyperDecoder ? { hyperDecoder: await createSession(graphs.hyperDecoder, exact) } : {}),
  };
}

/**
 * The factorized codec with its transforms run by onnxruntime-node (the exported g_a and g_s) and
 * the same entropy coding, container, codec id and weights hash as the tfjs codec, so that streams
 * written by one decode with the other.
 */
export class OrtFactorizedCodec extends OrtLearnedCodec<FactorizedCodec> {
  static async create(base: FactorizedCodec, threads?: number, tile?: number): Promise<OrtFactorizedCodec> {
    return new OrtFactorizedCodec(base, await sessions(base, threads), tile);
  }

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const y = await this.analyse(image);
    const [, c, h, w] = y.dims as [number, number, number, number];
    const medians = this.base.medians();
    const values = new Int32Array(c * h * w);
    for (let ch = 0; ch < c; ch++)
      for (let k = 0; k < h * w; k++) {
        const i = ch * h * w + k;
        // round half to even, as tf.round does on the tfjs path
        const v = y.data[i]! - medians[ch]!;
        const r = Math.round(v);
        values[i] = r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
      }
    const stream = encodeWithIndexes(values, channelIndexes(c, h, w), this.base.model.entropyBottleneck.tables!);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.base.weightsHash(), height, width, streams: [stream] });
    return { bytes, height, width, bppEstimated: (await this.estimatedBits(values, c, h * w)) / (height * width) };
  }

  /**
   * -sum log2(likelihood) of the quantized latents (symbols [c, n]): the likelihood depends on the
   * channel and the symbol only, so the entropy bottleneck runs once per (channel, symbol in the
   * range found) instead of once per latent (a third of the encode time before).
   */
  private async estimatedBits(values: Int32Array, c: number, n: number): Promise<number> {
    let [lo, hi] = [Infinity, -Infinity];
    for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const medians = this.base.medians();
    const range = hi - lo + 1;
    const grid = new Float32Array(range * c);
    for (let r = 0; r < range; r++) for (let ch = 0; ch < c; ch++) grid[r * c + ch] = lo + r + medians[ch]!;
    const likelihoods = tf.tidy(() => this.base.model.entropyBottleneck.forward(tf.tensor4d(grid, [1, 1, range, c])).likelihoods);
    const table = (await likelihoods.data()) as Float32Array;
    likelihoods.dispose();
    let nats = 0;
    for (let ch = 0; ch < c; ch++) for (let k = 0; k < n; k++) nats -= Math.log(table[(values[ch * n + k]! - lo) * c + ch]!);
    return nats / Math.LN2;
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.base.checkHeader(b, 1);
    const c = this.base.model.M;
    const [h, w] = [Math.ceil(b.height / 64) * 4, Math.ceil(b.width / 64) * 4];
    const values = decodeWithIndexes(b.streams[0]!, channelIndexes(c, h, w), this.base.model.entropyBottleneck.tables!);
    return this.synthesise({ data: dequantizeSymbols(values, this.base.medians(), c, h, w), dims: [1, c, h, w] }, b.height, b.width);
  }
}

/** NHWC image -> padded NCHW input of an exported encoder. */
async function encoderInput(image: tf.Tensor4D): Promise<{ data: Float32Array; dims: number[] }> {
  const { padded } = padCentred(image);
  const nchw = tf.transpose(padded, [0, 3, 1, 2]);
  const data = (await nchw.data()) as Float32Array;
  const dims = nchw.shape;
  tf.dispose([padded, nchw]);
  return { data, dims };
}

/** -sum log2 of likelihoods (a [1, h, w, c] tensor), disposed. */
async function bitsOf(likelihoods: tf.Tensor): Promise<number> {
  const bits = tf.tidy(() => tf.div(tf.sum(tf.neg(tf.log(likelihoods))), Math.LN2));
  const value = (await bits.data())[0]!;
  tf.dispose([bits, likelihoods]);
  return value;
}

/** NCHW data -> an NHWC tensor. */
function nhwc(data: ArrayLike<number>, [c, h, w]: number[]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(data), [1, c!, h!, w!]), [0, 2, 3, 1]) as tf.Tensor4D);
}

/** NCHW decoder output -> the cropped NHWC image. */
function decoderOutput(x: { data: Float32Array; dims: number[] }, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => cropDecoded(tf.transpose(tf.tensor4d(x.data, x.dims as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D, height, width));
}

/**
 * bmshj2018-hyperprior / mbt2018-mean run by onnxruntime-node through the four exported graphs
 * (`hyperpriorToOnnx`): g_a gives y, the encoder graph the y and z symbols, the fixed-point h_s graph the
 * tables and means from the z symbols (exactly `FixedPointHyperSynthesis.run`'s values), the
 * decoder graph the image from y_hat through the integer g_s. Entropy coding, container and y_hat
 * are the tfjs codec's, so streams written by either path decode with the other to the same
 * 8-bit image.
 */
export class OrtHyperpriorCodec extends OrtLearnedCodec<HyperpriorCodec> {
  static async create(base: HyperpriorCodec, threads?: number, tile?: number): Promise<OrtHyperpriorCodec> {
    return new OrtHyperpriorCodec(base, await sessions(base, threads), tile);
  }

  /**
   * The fixed-point h_s in onnxruntime, on tiles of tile / 4 z latents (its output, at y's
   * resolution, would take gigabytes on a 24-megapixel image; exact arithmetic, so tiles give the
   * same numbers); `run` where an input leaves the graph's exact range.
   */
  private readonly hyper = async (zSymbols: Int32Array, zh: number, zw: number): Promise<HyperOutput> => {
    const fp = this.base.fixedPointHyperSynthesis();
    const n = this.base.model.N;
    const input = fp.input(zSymbols, zh, zw);
    const ranges = fp.integerLayers().map(() => 0);
    let out: Float64Array | undefined;
    for (const t of tileGrid(zh, zw, Math.max(1, Math.floor(this.tile / 4)))) {
      const [th, tw] = [t.by - t.ay, t.bx - t.ax];
      const z = new Float64Array(th * tw * n);
      for (let y = 0; y < th; y++) z.set(input.subarray(((t.ay + y) * zw + t.ax) * n, ((t.ay + y) * zw + t.bx) * n), y * tw * n);
      const r = await this.sessions.hyperDecoder!.run<Float64Array>({ z_q16: { data: z, dims: [1, th, tw, n] } });
      ranges.forEach((v, i) => (ranges[i] = Math.max(v, r[`input_range_${i}`]!.data[0]!)));
      out ??= new Float64Array(r.hyper!.dims[1]! * zh * 4 * zw * 4);
      pasteCore(out, zh, zw, 4, r.hyper!, t);
    }
    const inRange = ranges.every((range, i) => range < FIXED_POINT_INPUT_LIMIT && fp.exactFor(i, range));
    return inRange ? fp.split(out!) : fp.run(zSymbols, zh, zw);
  };

  async compress(image: tf.Tensor4D): Promise<EncodedImage> {
    const [, height, width] = image.shape;
    const { model } = this.base;
    const out = await this.sessions.encoder!.run({ y: await this.analyse(image) });
    const [, , zh, zw] = out.z_symbols!.dims as [number, number, number, number];
    const zValues = Int32Array.from(out.z_symbols!.data);
    const tables = this.base.tables();
    const zStream = encodeWithIndexes(zValues, channelIndexes(model.N, zh, zw), tables.z);
    const hyper = await this.hyper(zValues, zh, zw);
    const { indexes } = this.base.hyperLatents(zValues, zh, zw, hyper);
    const ySymbols = Int32Array.from(out.y_symbols!.data);
    const yStream = encodeWithIndexes(ySymbols, indexes, tables.y);
    const bytes = writeBitstream({ codecId: this.id, weightsHash: this.base.weightsHash(), height, width, streams: [yStream, zStream] });
    // the rate estimate: y_hat under the fixed-point h_s's Gaussians (y_hat - means = the symbols), z_hat under the entropy bottleneck
    const yBits = model.gaussianConditional.bits(ySymbols, hyper.scales);
    const zHat = nhwc(dequantizeSymbols(zValues, this.base.medians(), model.N, zh, zw), [model.N, zh, zw]);
    const zBits = await bitsOf(tf.tidy(() => model.entropyBottleneck.forward(zHat).likelihoods));
    zHat.dispose();
    return { bytes, height, width, bppEstimated: (yBits + zBits) / (height * width) };
  }

  async decompress(bytes: Uint8Array): Promise<tf.Tensor4D> {
    const b = readBitstream(bytes);
    this.base.checkHeader(b, 2);
    const { yHat, shape } = await this.base.decodeLatents(b, this.hyper);
    return this.synthesise({ data: yHat, dims: [1, ...shape] }, b.height, b.width);
  }
}

/**
 * The exported graphs of a learned codec: bmshj2018-factorized (`analysis`: x -> y, `decoder`:
 * y_hat -> x_hat through the integer g_s) or a hyperprior model (`hyperpriorToOnnx`).
 */
export function exportCodecGraphs(codec: CodecV1): CodecGraphs {
  if (codec instanceof FactorizedCodec) return { analysis: transformToOnnx(codec.model.gA, false, { input: 'x', output: 'y' }), decoder: integerSynthesisToOnnx(codec.integerSynthesis()) };
  if (codec instanceof HyperpriorCodec) return hyperpriorToOnnx(codec.model, codec.integerSynthesis(), codec.fixedPointHyperSynthesis());
  throw new Error(`ONNX export supports the learned codecs bmshj2018-factorized, bmshj2018-hyperprior and mbt2018-mean, not '${codec.id}'`);
}

/** The codec with its transforms run by onnxruntime-node (same bitstreams). */
export async function ortCodec(codec: CodecV1, threads?: number, tile?: number): Promise<CodecV1> {
  if (codec instanceof FactorizedCodec) return OrtFactorizedCodec.create(codec, threads, tile);
  if (codec instanceof HyperpriorCodec) return OrtHyperpriorCodec.create(codec, threads, tile);
  throw new Error(`onnxruntime runs the learned codecs bmshj2018-factorized, bmshj2018-hyperprior and mbt2018-mean, not '${codec.id}'`);
}
