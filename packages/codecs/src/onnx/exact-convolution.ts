import { DataType, GraphBuilder, int, ints } from './graph.js';

/**
 * A convolution (stride 1) or transposed convolution (output padding stride - 1) with CompressAI's
 * padding k/2, whose weights are integers written as sum_q pieces[q] 2^exponents[q] with every
 * piece in [-128, 127].
 */
export interface IntegerConvolution {
  k: number;
  stride: number;
  transposed: boolean;
  cin: number;
  cout: number;
  /** Each piece laid out [ky, kx, in, out]. */
  pieces: ArrayLike<number>[];
  exponents: number[];
}

/** An 8-bit piece of integer activations: `name` holds piece + zeroPoint as uint8, NHWC. */
export interface ActivationPiece {
  name: string;
  zeroPoint: 0 | 128;
  /** The piece stands for its value x 2^exponent. */
  exponent: number;
}

const INT32_SAFE = 2 ** 31;
const LAST = 2 ** 62;

/**
 * The output phases (py, px) of a layer (one for a convolution, stride^2 for a transposed one) and
 * for each the window offsets d (input m + d feeds output s m + ph) with the tap k each uses.
 */
function phaseTaps(c: IntegerConvolution): { s: number; taps: { d: number; k: number }[][]; min: number; max: number } {
  const pad = c.k >> 1;
  if (!c.transposed && c.stride !== 1) throw new Error(`exact convolution: strided convolutions are not supported (stride ${c.stride})`);
  const s = c.transposed ? c.stride : 1;
  // transposed: out[i s + ky - pad] += in[i] w[ky], so out[s m + ph] reads in[m + d] with ky = ph + pad - d s;
  // convolution: out[o] reads in[o + ky - pad], so d = ky - pad
  const taps = Array.from({ length: s }, (_, ph) => {
    const list: { d: number; k: number }[] = [];
    for (let k = 0; k < c.k; k++) {
      const d = c.transposed ? (ph + pad - k) / s : k - pad;
      if (Number.isInteger(d)) list.push({ d, k });
    }
    return list.sort((a, b) => a.d - b.d);
  });
  const ds = taps.flat().map((t) => t.d);
  return { s, taps, min: Math.min(...ds), max: Math.max(...ds) };
}

/** The int8 matrix [taps cin, cout] of one weight piece for the window taps of one phase. */
function phaseMatrix(c: IntegerConvolution, piece: ArrayLike<number>, ys: { k: number }[], xs: { k: number }[]): Int8Array {
  const data = new Int8Array(ys.length * xs.length * c.cin * c.cout);
  let row = 0;
  for (const { k: ky } of ys)
    for (const { k: kx } of xs)
      for (let i = 0; i < c.cin; i++, row++)
        for (let o = 0; o < c.cout; o++) {
          const v = piece[((ky * c.k + kx) * c.cin + i) * c.cout + o]!;
          if (!Number.isInteger(v) || v < -128 || v > 127) throw new RangeError(`exact convolution: weight piece value ${v} is not an 8-bit integer`);
          data[row * c.cout + o] = v;
        }
  if (255 * 128 * row >= INT32_SAFE) throw new RangeError(`exact convolution: ${row} products per output may overflow int32`);
  return data;
}

/**
 * An integer convolution, exactly, per output phase (py s + px; NHWC [n, h, w, cout] each): for
 * each activation piece (in the given order) and each weight piece (low to high), the product
 * over that phase's taps only, by MatMulInteger (uint8 x int8, exact int32 sums) over an im2col of
 * the zero-padded piece, times 2^(piece exponents + scale), summed in that order as it comes (so
 * that few terms are alive at once):
 * - `float`: in float32, each term from com.microsoft MatMulIntegerToFloat (exact while the
 *   integer sums stay below 2^24), each addition rounding as the tfjs reference's does;
 * - `double`: in float64, exact while the sums stay below 2^53.
 */
export function exactConvolutionNodes(g: GraphBuilder, activations: ActivationPiece[], c: IntegerConvolution, sum: 'float' | 'double', scale = 0): string[] {
  const { s, taps, min, max } = phaseTaps(c);
  const sums: (string | undefined)[] = Array.from({ length: s * s }, () => undefined);
  const weights = taps.flatMap((ys) => taps.map((xs) => c.pieces.map((piece) => g.typedConstant('weights_i8', DataType.INT8, phaseMatrix(c, piece, ys, xs), [ys.length * xs.length * c.cin, c.cout]))));
  for (const a of activations) {
    const zero = g.typedConstant('zero_point', DataType.UINT8, new Uint8Array([a.zeroPoint]), []);
    const padded = g.node('Pad', [a.name, g.int64s('pads', [0, -min, -min, 0, 0, max, max, 0]), zero]);
    const windows = new Map<string, string>();
    // the input shifted by (dy, dx): padded[.., dy - min : dy - min + h, dx - min : dx - min + w, ..]
    const shifted = (dy: number, dx: number) => {
      const key = `${dy},${dx}`;
      const end = (d: number) => (d === max ? LAST : d - max);
      if (!windows.has(key)) windows.set(key, g.node('Slice', [padded, g.int64s('starts', [dy - min, dx - min]), g.int64s('ends', [end(dy), end(dx)]), g.int64s('axes', [1, 2])]));
      return windows.get(key)!;
    };
    for (let py = 0; py < s; py++)
      for (let px = 0; px < s; px++) {
        const parts = taps[py]!.flatMap(({ d: dy }) => taps[px]!.map(({ d: dx }) => shifted(dy, dx)));
        const columns = parts.length === 1 ? parts[0]! : g.node('Concat', parts, [int('axis', 3)]);
        weights[py * s + px]!.forEach((b, q) => {
          const exponent = a.exponent + c.exponents[q]! + scale;
          let term: string;
          if (sum === 'double') {
            const product = g.node('MatMulInteger', a.zeroPoint ? [columns, b, zero] : [columns, b]);
            term = g.node('Mul', [g.node('Cast', [product], [int('to', DataType.DOUBLE)]), g.typedConstant('scale', DataType.DOUBLE, new Float64Array([2 ** exponent]), [])]);
          } else {
            const scales = [g.constant('a_scale', new Float32Array([2 ** a.exponent]), []), g.constant('b_scale', new Float32Array([2 ** (exponent - a.exponent)]), [])];
            term = g.node('MatMulIntegerToFloat', [columns, b, ...scales, ...(a.zeroPoint ? [zero] : [])], [], 'com.microsoft');
          }
          const phase = py * s + px;
          sums[phase] = sums[phase] ? g.node('Add', [sums[phase]!, term]) : term;
        });
      }
  }
  return sums as string[];
}

/** Per-phase NHWC tensors [n, h, w, c] (phase py s + px) -> [n, s h, s w, c], interleaved. */
export function interleaveNodes(g: GraphBuilder, phases: string[], s: number, c: number): string {
  if (s === 1) return phases[0]!;
  const stacked = g.node('Concat', phases, [int('axis', 3)]);
  const split = g.node('Reshape', [stacked, g.int64s('shape', [0, 0, 0, s, s, c])]);
  const interleaved = g.node('Transpose', [split], [ints('perm', [0, 1, 3, 2, 4, 5])]);
  const shape = g.node('Shape', [phases[0]!]);
  const slice = (from: number, to: number) => g.node('Slice', [shape, g.int64s('starts', [from]), g.int64s('ends', [to])]);
  const hw = g.node('Mul', [slice(1, 3), g.int64s('stride', [s])]);
  const target = g.node('Concat', [slice(0, 1), hw, g.int64s('channels', [c])], [int('axis', 0)]);
  return g.node('Reshape', [interleaved, target]);
}

/**
 * Splits integer activations (float or double tensor, NHWC) into uint8 pieces, low first: digit
 * j = floor(a / 256^j) mod 256, and the top piece signed (offset by 128, zero point 128). Exact
 * for -2^(8 pieces - 1) <= a < 2^(8 pieces - 1).
 */
export function bytePiecesNodes(g: GraphBuilder, a: string, pieces: number, constant: (v: number) => string): ActivationPiece[] {
  const out: ActivationPiece[] = [];
  let rest = a;
  for (let j = 0; j < pieces; j++) {
    if (j === pieces - 1) {
      out.push({ name: g.node('Cast', [g.node('Add', [rest, constant(128)])], [int('to', DataType.UINT8)]), zeroPoint: 128, exponent: 8 * j });
      break;
    }
    const high = g.node('Floor', [g.node('Mul', [rest, constant(1 / 256)])]);
    const digit = g.node('Sub', [rest, g.node('Mul', [high, constant(256)])]);
    out.push({ name: g.node('Cast', [digit], [int('to', DataType.UINT8)]), zeroPoint: 0, exponent: 8 * j });
    rest = high;
  }
  return out;
}
