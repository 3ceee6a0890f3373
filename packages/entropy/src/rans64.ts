import { BitstreamError } from './errors.js';

// CompressAI's stream format (its RansEncoder, after Fabian Giesen's rans64.h): a 64-bit state in
// [2^31, 2^63), renormalised 32 bits at a time; the stream is the final state (low word, then high
// word) followed by the words the encoder moved out, last first, each word little-endian. The state
// is kept as two 32-bit halves in JS numbers, so every operation below is exact.
const L = 2 ** 31;
const WORD = 2 ** 32;

/**
 * rANS encoder writing CompressAI's 64-bit format. Like `RansEncoder`, symbols are pushed in order
 * and coded in reverse on `finish()`, so that the decoder reads them in push order.
 */
export class Rans64Encoder {
  private starts: number[] = [];
  private freqs: number[] = [];
  private bits: number[] = [];

  /** Pushes a symbol of frequency `freq` starting at `start`, out of 2^bits (bits <= 16). */
  put(start: number, freq: number, bits: number): void {
    if (!(bits >= 0 && bits <= 16 && freq > 0 && start >= 0 && start + freq <= 1 << bits)) throw new RangeError(`bad rANS slot [${start}, ${start + freq}) of 2^${bits}`);
    this.starts.push(start);
    this.freqs.push(freq);
    this.bits.push(bits);
  }

  /** Pushes `value` (0 <= value < 2^bits) with uniform probability (CompressAI's Rans64EncPutBits is this slot). */
  putBits(value: number, bits: number): void {
    this.put(value, 1, bits);
  }

  finish(): Uint8Array {
    const words: number[] = [];
    let hi = 0;
    let lo = L;
    for (let i = this.starts.length - 1; i >= 0; i--) {
      const [start, freq, b] = [this.starts[i]!, this.freqs[i]!, this.bits[i]!];
      // x >= ((L >> b) << 32) * freq, whose low word is 0: compare the high words
      if (hi >= freq * 2 ** (31 - b)) {
        words.push(lo);
        [hi, lo] = [0, hi];
      }
      // x = ((x / freq) << b) + x % freq + start
      const qHi = Math.floor(hi / freq);
      const t = (hi % freq) * WORD + lo;
      const qLo = Math.floor(t / freq);
      const low = (qLo % 2 ** (32 - b)) * 2 ** b + (t % freq) + start;
      hi = qHi * 2 ** b + Math.floor(qLo / 2 ** (32 - b)) + Math.floor(low / WORD);
      lo = low % WORD;
    }
    const out = new Uint8Array(4 * (words.length + 2));
    const view = new DataView(out.buffer);
    view.setUint32(0, lo, true);
    view.setUint32(4, hi, true);
    words.reverse().forEach((w, k) => view.setUint32(8 + 4 * k, w, true));
    return out;
  }
}

/** rANS decoder over CompressAI's 64-bit format (`Rans64Encoder`, or CompressAI's `RansEncoder`). */
export class Rans64Decoder {
  private hi: number;
  private lo: number;
  private pos = 8;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    if (bytes.length < 8 || bytes.length % 4 !== 0) throw new BitstreamError(`entropy-coded stream of ${bytes.length} bytes is not a CompressAI rANS stream (whole 32-bit words, at least two)`);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.lo = this.view.getUint32(0, true);
    this.hi = this.view.getUint32(4, true);
    if (this.hi >= L || (this.hi === 0 && this.lo < L)) throw new BitstreamError('entropy-coded stream has an invalid initial state');
  }

  /** The cumulative value of the next symbol, out of 2^bits. */
  peek(bits: number): number {
    return this.lo % 2 ** bits;
  }

  /** Consumes the symbol [start, start + freq) identified with `peek`: x = freq * (x >> bits) + (x & mask) - start. */
  advance(start: number, freq: number, bits: number): void {
    const sHi = Math.floor(this.hi / 2 ** bits);
    const sLo = (this.hi % 2 ** bits) * 2 ** (32 - bits) + Math.floor(this.lo / 2 ** bits);
    const p = freq * sLo + (this.lo % 2 ** bits) - start;
    let hi = freq * sHi + Math.floor(p / WORD);
    let lo = p - Math.floor(p / WORD) * WORD;
    if (hi === 0 && lo < L) {
      if (this.pos + 4 > this.bytes.length) throw new BitstreamError('entropy-coded stream is truncated');
      [hi, lo] = [lo, this.view.getUint32(this.pos, true)];
      this.pos += 4;
    }
    this.hi = hi;
    this.lo = lo;
  }

  /** Reads a value written with `putBits`. */
  getBits(bits: number): number {
    const value = this.peek(bits);
    this.advance(value, 1, bits);
    return value;
  }

  /** True when every word was consumed and the state is back at its start, as after a clean decode. */
  get exhausted(): boolean {
    return this.pos === this.bytes.length && this.hi === 0 && this.lo === L;
  }
}
