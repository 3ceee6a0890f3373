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

/** One exact product term: int32, NHWC with the output phases stacked on the channels. */
export interface ExactTerm {
  name: string;
  exponent: number;
}

const INT32_SAFE = 2 ** 31;
const LAST = 2 ** 62;

/** Window offsets d (input m + d feeds output phase ph of position m) and the tap each uses. */
function taps(c: IntegerConvolution): { min: number; max: number; phases: number; tap: (ph: number, d: number) => number | undefined } {
  const pad = c.k >> 1;
  if (!c.transposed && c.stride !== 1) throw new Error(`exact convolution: strided convolutions are not supported (stride ${c.stride})`);
  const s = c.transposed ? c.stride : 1;
  // transposed: out[i s + ky - pad] += in[i] w[ky], so out[s m + ph] reads in[m + d] with ky = ph + pad - d s;
  // convolution: out[o] reads in[o + ky - pad], so d = ky - pad
  const tap = (ph: number, d: number) => {
    const ky = c.transposed ? ph + pad - d * s : d + pad;
    return ky >= 0 && ky < c.k ? ky : undefined;
  };
  let [min, max] = [Infinity, -Infinity];
  for (let ph = 0; ph < s; ph++)
    for (let d = -c.k; d <= c.k; d++)
      if (tap(ph, d) !== undefined) [min, max] = [Math.min(min, d), Math.max(max, d)];
  return { min, max, phases: s, tap };
}

/**
 * The int8 weight matrix [window^2 cin, pieces x phases^2 x cout] of an im2col product: row
 * (wy window + wx) cin + i, column ((q phases + py) phases + px) cout + o.
 */
function weightMatrix(c: IntegerConvolution): { data: Int8Array; rows: number; columns: number } {
  const { min, max, phases, tap } = taps(c);
  const win = max - min + 1;
  const rows = win * win * c.cin;
  const perPiece = phases * phases * c.cout;
  const columns = c.pieces.length * perPiece;
  const data = new Int8Array(rows * columns);
  c.pieces.forEach((piece, q) => {
    for (let py = 0; py < phases; py++)
      for (let px = 0; px < phases; px++)
        for (let wy = 0; wy < win; wy++)
          for (let wx = 0; wx < win; wx++) {
            const [ky, kx] = [tap(py, wy + min), tap(px, wx + min)];
            if (ky === undefined || kx === undefined) continue;
            for (let i = 0; i < c.cin; i++)
              for (let o = 0; o < c.cout; o++) {
                const v = piece[((ky * c.k + kx) * c.cin + i) * c.cout + o]!;
                if (!Number.isInteger(v) || v < -128 || v > 127) throw new RangeError(`exact convolution: weight piece value ${v} is not an 8-bit integer`);
                data[((wy * win + wx) * c.cin + i) * columns + q * perPiece + (py * phases + px) * c.cout + o] = v;
              }
          }
  });
  if (255 * 128 * rows >= INT32_SAFE) throw new RangeError(`exact convolution: ${rows} products per output may overflow int32`);
  return { data, rows, columns };
}

/**
 * The exact product terms of an integer convolution: for each activation piece (in the given
 * order) and each weight piece (low to high), the integer convolution as int32, computed by
 * MatMulInteger (uint8 x int8, exact int32 sums) over an im2col of the zero-padded piece. The
 * output phases of a transposed convolution are stacked on the channels (`depthToSpaceNodes`
 * interleaves them).
 */
export function exactConvolutionNodes(g: GraphBuilder, activations: ActivationPiece[], c: IntegerConvolution): ExactTerm[] {
  const { min, max, phases } = taps(c);
  const win = max - min + 1;
  const w = weightMatrix(c);
  const weights = g.typedConstant('weights_i8', DataType.INT8, w.data, [w.rows, w.columns]);
  const perPiece = phases * phases * c.cout;
  const terms: ExactTerm[] = [];
  for (const a of activations) {
    const zero = g.typedConstant('zero_point', DataType.UINT8, new Uint8Array([a.zeroPoint]), []);
    const padded = g.node('Pad', [a.name, g.int64s('pads', [0, -min, -min, 0, 0, max, max, 0]), zero]);
    const windows: string[] = [];
    for (let wy = 0; wy < win; wy++)
      for (let wx = 0; wx < win; wx++) {
        const end = (o: number) => (o === win - 1 ? LAST : o - (win - 1));
        windows.push(g.node('Slice', [padded, g.int64s('starts', [wy, wx]), g.int64s('ends', [end(wy), end(wx)]), g.int64s('axes', [1, 2])]));
      }
    const columns = windows.length === 1 ? windows[0]! : g.node('Concat', windows, [int('axis', 3)]);
    const product = g.node('MatMulInteger', a.zeroPoint ? [columns, weights, zero] : [columns, weights]);
    c.pieces.forEach((_, q) => {
      const name = c.pieces.length === 1 ? product : g.node('Slice', [product, g.int64s('starts', [q * perPiece]), g.int64s('ends', [(q + 1) * perPiece]), g.int64s('axes', [3])]);
      terms.push({ name, exponent: a.exponent + c.exponents[q]! });
    });
  }
  return terms;
}

/** NHWC [n, h, w, s s c] with phases (py, px) outermost on the channels -> [n, s h, s w, c]. */
export function depthToSpaceNodes(g: GraphBuilder, x: string, s: number, c: number): string {
  if (s === 1) return x;
  const split = g.node('Reshape', [x, g.int64s('shape', [0, 0, 0, s, s, c])]);
  const interleaved = g.node('Transpose', [split], [ints('perm', [0, 1, 3, 2, 4, 5])]);
  const shape = g.node('Shape', [x]);
  const slice = (from: number, to: number) => g.node('Slice', [shape, g.int64s('starts', [from]), g.int64s('ends', [to])]);
  const hw = g.node('Mul', [slice(1, 3), g.int64s('stride', [s])]);
  const target = g.node('Concat', [slice(0, 1), hw, g.int64s('channels', [c])], [int('axis', 0)]);
  return g.node('Reshape', [interleaved, target]);
}

/**
 * Splits integer activations (float or double tensor, NHWC) into uint8 pieces, low first: digit
 * j = floor(a / 256^j) mod 256, and the top piece signed (offset by 128, zero point 128). Exact
 * for |a| < 2^(8 pieces - 1).
 */
export function bytePiecesNodes(g: GraphBuilder, a: string, pieces: number, constant: (v: number) => string): ActivationPiece[] {
  const out: ActivationPiece[] = [];
  let rest = a;
  for (let j = 0; j < pieces; j++) {
    const top = j === pieces - 1;
    if (top) {
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
