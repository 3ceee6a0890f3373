import * as tf from '@tensorflow/tfjs-core';
import type { EncodedImage, GraphRunnerV1, GraphTensorV1, OnnxCodingV1 } from '@lic-backdoor/core';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream, type Bitstream, type CdfTables } from '@lic-backdoor/entropy';
import type { FixedPointHyperSynthesis, HyperOutput } from '../entropy-models/fixed-point-hyper-synthesis.js';
import type { IntegerSynthesisPlan } from '../layers/integer-synthesis.js';
import type { FactorizedPrior } from '../models/factorized.js';
import type { HyperpriorModel } from '../models/hyperprior.js';
import { FIXED_POINT_INPUT_LIMIT, hyperpriorToOnnx, integerSynthesisToOnnx, transformToOnnx } from '../onnx-export.js';
import { channelIndexes, cropDecoded, dequantizeSymbols, padCentred } from '../padding.js';

type Nchw = { data: Float32Array; dims: number[] };

/** What the ONNX coding reads of a learned codec (`LearnedCodecBase`'s members). */
interface LearnedCodecParts<Model> {
  readonly id: string;
  readonly model: Model;
  medians(): Float32Array;
  weightsHash(): Uint8Array;
  checkHeader(b: Bitstream, streams: number): void;
  integerSynthesis(): IntegerSynthesisPlan;
}

/** ... and of a hyperprior codec (`HyperpriorCodec`'s). */
interface HyperpriorCodecParts extends LearnedCodecParts<HyperpriorModel> {
  tables(): { z: CdfTables; y: CdfTables };
  fixedPointHyperSynthesis(): FixedPointHyperSynthesis;
  hyperLatents(zSymbols: Int32Array, zh: number, zw: number, hyper?: HyperOutput): { indexes: Int32Array; offsets: Float32Array };
  decodeLatents(b: Bitstream, hyper?: (zSymbols: Int32Array, zh: number, zw: number) => Promise<HyperOutput>): Promise<{ yHat: Float32Array; shape: [number, number, number] }>;
}

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

/** One output of a graph run, as float32 NCHW. */
const output = (r: Record<string, GraphTensorV1>, name: string): Nchw => r[name] as Nchw;

/** NHWC image -> padded NCHW input of an exported encoder. */
async function encoderInput(image: tf.Tensor4D): Promise<Nchw> {
  const { padded } = padCentred(image);
  const nchw = tf.transpose(padded, [0, 3, 1, 2]);
  const data = (await nchw.data()) as Float32Array;
  const dims = nchw.shape;
  tf.dispose([padded, nchw]);
  return { data, dims };
}

/** NCHW decoder output -> the cropped NHWC image. */
function decoderOutput(x: Nchw, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => cropDecoded(tf.transpose(tf.tensor4d(x.data, x.dims as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D, height, width));
}

/** NCHW data -> an NHWC tensor. */
function nhwc(data: ArrayLike<number>, [c, h, w]: number[]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(data), [1, c!, h!, w!]), [0, 2, 3, 1]) as tf.Tensor4D);
}

/** y (NCHW) of an NHWC image: g_a (graph `analysis`), tile by tile on large images. */
async function analyse(run: GraphRunnerV1, image: tf.Tensor4D, tile: number): Promise<Nchw> {
  return tiled(await encoderInput(image), 16, 1, tile, async (x) => output(await run('analysis', { x }), 'y'));
}

/** The decoded NHWC image from y_hat (NCHW): the integer g_s (graph `decoder`), tile by tile on large images. */
async function synthesise(run: GraphRunnerV1, yHat: Nchw, height: number, width: number, tile: number): Promise<tf.Tensor4D> {
  return decoderOutput(await tiled(yHat, 1, 16, tile, async (y) => output(await run('decoder', { y_hat: y }), 'x_hat')), height, width);
}

/**
 * bmshj2018-factorized through its exported graphs `analysis` (g_a) and `decoder` (the integer g_s),
 * with the same quantization, entropy coding, container, codec id and weights hash as the tfjs codec.
 */
export function factorizedOnnxCoding(codec: LearnedCodecParts<FactorizedPrior>, tile = TILE_LATENTS): OnnxCodingV1 {
  const { model } = codec;
  return {
    graphs: { analysis: { model: transformToOnnx(model.gA, false, { input: 'x', output: 'y' }) }, decoder: { model: integerSynthesisToOnnx(codec.integerSynthesis()), exact: true } },
    async compress(image, run): Promise<EncodedImage> {
      const [, height, width] = image.shape;
      const y = await analyse(run, image, tile);
      const [, c, h, w] = y.dims as [number, number, number, number];
      const medians = codec.medians();
      const values = new Int32Array(c * h * w);
      for (let ch = 0; ch < c; ch++)
        for (let k = 0; k < h * w; k++) {
          const i = ch * h * w + k;
          // round half to even, as tf.round does on the tfjs path
          const v = y.data[i]! - medians[ch]!;
          const r = Math.round(v);
          values[i] = r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
        }
      const stream = encodeWithIndexes(values, channelIndexes(c, h, w), model.entropyBottleneck.tables!);
      const bytes = writeBitstream({ codecId: codec.id, weightsHash: codec.weightsHash(), height, width, streams: [stream] });
      return { bytes, height, width, bppEstimated: (await estimatedBits(codec, values, c, h * w)) / (height * width) };
    },
    async decompress(bytes, run) {
      const b = readBitstream(bytes);
      codec.checkHeader(b, 1);
      const c = model.M;
      const [h, w] = [Math.ceil(b.height / 64) * 4, Math.ceil(b.width / 64) * 4];
      const values = decodeWithIndexes(b.streams[0]!, channelIndexes(c, h, w), model.entropyBottleneck.tables!);
      return synthesise(run, { data: dequantizeSymbols(values, codec.medians(), c, h, w), dims: [1, c, h, w] }, b.height, b.width, tile);
    },
  };
}

/**
 * -sum log2(likelihood) of the quantized latents (symbols [c, n]): the likelihood depends on the
 * channel and the symbol only, so the entropy bottleneck runs once per (channel, symbol in the
 * range found) instead of once per latent (a third of the encode time before).
 */
async function estimatedBits(codec: LearnedCodecParts<FactorizedPrior>, values: Int32Array, c: number, n: number): Promise<number> {
  let [lo, hi] = [Infinity, -Infinity];
  for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const medians = codec.medians();
  const range = hi - lo + 1;
  const grid = new Float32Array(range * c);
  for (let r = 0; r < range; r++) for (let ch = 0; ch < c; ch++) grid[r * c + ch] = lo + r + medians[ch]!;
  const likelihoods = tf.tidy(() => codec.model.entropyBottleneck.forward(tf.tensor4d(grid, [1, 1, range, c])).likelihoods);
  const table = (await likelihoods.data()) as Float32Array;
  likelihoods.dispose();
  let nats = 0;
  for (let ch = 0; ch < c; ch++) for (let k = 0; k < n; k++) nats -= Math.log(table[(values[ch * n + k]! - lo) * c + ch]!);
  return nats / Math.LN2;
}

/** `OnnxCodingV1` of a hyperprior codec, with its fixed-point h_s exposed (tested against the JS reference). */
export interface HyperpriorOnnxCoding extends OnnxCodingV1 {
  /** The fixed-point h_s through graph `hyperDecoder`, on tiles; the JS reference `run` where an input leaves the graph's exact range. */
  hyper(run: GraphRunnerV1, zSymbols: Int32Array, zh: number, zw: number): Promise<HyperOutput>;
}

/**
 * bmshj2018-hyperprior / mbt2018-mean through the four exported graphs (`hyperpriorToOnnx`): g_a
 * gives y, the encoder graph the y and z symbols, the fixed-point h_s graph the tables and means
 * from the z symbols (exactly `FixedPointHyperSynthesis.run`'s values), the decoder graph the image
 * from y_hat through the integer g_s. Entropy coding, container and y_hat are the tfjs codec's, so
 * streams written by either path decode with the other to the same 8-bit image.
 */
export function hyperpriorOnnxCoding(codec: HyperpriorCodecParts, tile = TILE_LATENTS): HyperpriorOnnxCoding {
  const { model } = codec;
  const graphs = hyperpriorToOnnx(model, codec.integerSynthesis(), codec.fixedPointHyperSynthesis());
  // the fixed-point h_s on tiles of tile / 4 z latents (its output, at y's resolution, would take gigabytes on a 24-megapixel image; exact arithmetic, so tiles give the same numbers)
  const hyper = async (run: GraphRunnerV1, zSymbols: Int32Array, zh: number, zw: number): Promise<HyperOutput> => {
    const fp = codec.fixedPointHyperSynthesis();
    const n = model.N;
    const input = fp.input(zSymbols, zh, zw);
    const ranges = fp.integerLayers().map(() => 0);
    let out: Float64Array | undefined;
    for (const t of tileGrid(zh, zw, Math.max(1, Math.floor(tile / 4)))) {
      const [th, tw] = [t.by - t.ay, t.bx - t.ax];
      const z = new Float64Array(th * tw * n);
      for (let y = 0; y < th; y++) z.set(input.subarray(((t.ay + y) * zw + t.ax) * n, ((t.ay + y) * zw + t.bx) * n), y * tw * n);
      const r = (await run('hyperDecoder', { z_q16: { data: z, dims: [1, th, tw, n] } })) as Record<string, { data: Float64Array; dims: number[] }>;
      ranges.forEach((v, i) => (ranges[i] = Math.max(v, r[`input_range_${i}`]!.data[0]!)));
      out ??= new Float64Array(r.hyper!.dims[1]! * zh * 4 * zw * 4);
      pasteCore(out, zh, zw, 4, r.hyper!, t);
    }
    const inRange = ranges.every((range, i) => range < FIXED_POINT_INPUT_LIMIT && fp.exactFor(i, range));
    return inRange ? fp.split(out!) : fp.run(zSymbols, zh, zw);
  };
  return {
    graphs: { analysis: { model: graphs.analysis }, encoder: { model: graphs.encoder }, hyperDecoder: { model: graphs.hyperDecoder, exact: true }, decoder: { model: graphs.decoder, exact: true } },
    hyper,
    async compress(image, run): Promise<EncodedImage> {
      const [, height, width] = image.shape;
      const out = await run('encoder', { y: await analyse(run, image, tile) });
      const [, , zh, zw] = out.z_symbols!.dims as [number, number, number, number];
      const zValues = Int32Array.from(out.z_symbols!.data);
      const tables = codec.tables();
      const zStream = encodeWithIndexes(zValues, channelIndexes(model.N, zh, zw), tables.z);
      const h = await hyper(run, zValues, zh, zw);
      const { indexes } = codec.hyperLatents(zValues, zh, zw, h);
      const ySymbols = Int32Array.from(out.y_symbols!.data);
      const yStream = encodeWithIndexes(ySymbols, indexes, tables.y);
      const bytes = writeBitstream({ codecId: codec.id, weightsHash: codec.weightsHash(), height, width, streams: [yStream, zStream] });
      // the rate estimate: y_hat under the fixed-point h_s's Gaussians (y_hat - means = the symbols), z_hat under the entropy bottleneck
      const yBits = model.gaussianConditional.bits(ySymbols, h.scales);
      const zHat = nhwc(dequantizeSymbols(zValues, codec.medians(), model.N, zh, zw), [model.N, zh, zw]);
      const zLikelihoods = tf.tidy(() => tf.div(tf.sum(tf.neg(tf.log(model.entropyBottleneck.forward(zHat).likelihoods))), Math.LN2));
      const zBits = (await zLikelihoods.data())[0]!;
      tf.dispose([zHat, zLikelihoods]);
      return { bytes, height, width, bppEstimated: (yBits + zBits) / (height * width) };
    },
    async decompress(bytes, run) {
      const b = readBitstream(bytes);
      codec.checkHeader(b, 2);
      const { yHat, shape } = await codec.decodeLatents(b, (z, zh, zw) => hyper(run, z, zh, zw));
      return synthesise(run, { data: yHat, dims: [1, ...shape] }, b.height, b.width, tile);
    },
  };
}
