import { CDF_PRECISION } from './cdf.js';
import { BitstreamError } from './errors.js';
import { RansDecoder, RansEncoder } from './rans.js';
import { Rans64Decoder, Rans64Encoder } from './rans64.js';

/**
 * A set of quantized CDF tables, one per index, as CompressAI's entropy models hold them:
 * `cdfs[i]` has `cdfLengths[i]` entries (the last symbol of each table is the escape), and a
 * value v coded with table i is the symbol v - offsets[i].
 */
export interface CdfTables {
  cdfs: readonly Int32Array[];
  offsets: Int32Array;
}

const BYPASS_BITS = 4;
const BYPASS_MAX = (1 << BYPASS_BITS) - 1;
/** A larger count of bypass chunks than this cannot come from a 32-bit value: the stream is damaged. */
const MAX_BYPASS_CHUNKS = 9;

/**
 * The rANS stream layout: `lic-backdoor`, 32-bit state and byte-wise output (`RansEncoder`), or
 * `compressai`, CompressAI's 64-bit state and 32-bit words (`Rans64Encoder`). The symbols, their
 * escape and bypass coding are the same in both (CompressAI's scheme), so with the same tables the
 * two carry the same values.
 */
export type RansFormat = 'lic-backdoor' | 'compressai';

/**
 * Codes integer `values` (each with the table `indexes[k]`) into one rANS stream. Values outside a
 * table's range are coded as its escape symbol followed by the value in 4-bit bypass chunks
 * (zig-zag mapped), so any int32 survives.
 */
export function encodeWithIndexes(values: Int32Array, indexes: Int32Array, tables: CdfTables, format: RansFormat = 'lic-backdoor'): Uint8Array {
  if (values.length !== indexes.length) throw new RangeError(`${values.length} values but ${indexes.length} indexes`);
  const enc = format === 'compressai' ? new Rans64Encoder() : new RansEncoder();
  for (let k = 0; k < values.length; k++) {
    const i = indexes[k]!;
    const cdf = tables.cdfs[i];
    if (!cdf) throw new RangeError(`no CDF table ${i}`);
    const escape = cdf.length - 2;
    let s = values[k]! - tables.offsets[i]!;
    let raw = -1;
    if (s < 0) {
      raw = -2 * s - 1;
      s = escape;
    } else if (s >= escape) {
      raw = 2 * (s - escape);
      s = escape;
    }
    enc.put(cdf[s]!, cdf[s + 1]! - cdf[s]!, CDF_PRECISION);
    if (raw >= 0) {
      let chunks = 0;
      while (Math.floor(raw / 2 ** (chunks * BYPASS_BITS)) !== 0) chunks++;
      let count = chunks;
      while (count >= BYPASS_MAX) {
        enc.putBits(BYPASS_MAX, BYPASS_BITS);
        count -= BYPASS_MAX;
      }
      enc.putBits(count, BYPASS_BITS);
      for (let j = 0; j < chunks; j++) enc.putBits(Math.floor(raw / 2 ** (j * BYPASS_BITS)) & BYPASS_MAX, BYPASS_BITS);
    }
  }
  return enc.finish();
}

/** Inverse of `encodeWithIndexes`; throws `BitstreamError` on a damaged stream, never loops forever. */
export function decodeWithIndexes(bytes: Uint8Array, indexes: Int32Array, tables: CdfTables, format: RansFormat = 'lic-backdoor'): Int32Array {
  const dec = format === 'compressai' ? new Rans64Decoder(bytes) : new RansDecoder(bytes);
  const out = new Int32Array(indexes.length);
  for (let k = 0; k < indexes.length; k++) {
    const i = indexes[k]!;
    const cdf = tables.cdfs[i];
    if (!cdf) throw new BitstreamError(`no CDF table ${i}`);
    const escape = cdf.length - 2;
    const cum = dec.peek(CDF_PRECISION);
    let lo = 0;
    let hi = cdf.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! <= cum) lo = mid;
      else hi = mid;
    }
    const s = lo;
    dec.advance(cdf[s]!, cdf[s + 1]! - cdf[s]!, CDF_PRECISION);
    let value = s;
    if (s === escape) {
      let chunks = 0;
      for (;;) {
        const v = dec.getBits(BYPASS_BITS);
        chunks += v;
        if (chunks > MAX_BYPASS_CHUNKS) throw new BitstreamError('entropy-coded stream is damaged (bypass count out of range)');
        if (v !== BYPASS_MAX) break;
      }
      let raw = 0;
      for (let j = 0; j < chunks; j++) raw += dec.getBits(BYPASS_BITS) * 2 ** (j * BYPASS_BITS);
      value = raw % 2 === 1 ? -(raw + 1) / 2 : escape + raw / 2;
    }
    out[k] = value + tables.offsets[i]!;
  }
  if (!dec.exhausted) throw new BitstreamError('entropy-coded stream has trailing or inconsistent data');
  return out;
}
