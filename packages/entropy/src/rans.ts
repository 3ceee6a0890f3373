import { CDF_PRECISION } from './cdf.js';
import { BitstreamError } from './errors.js';

// 32-bit rANS with byte-wise renormalisation (state in [2^23, 2^31)), integer arithmetic on
// JS numbers (exact below 2^53), so the same bytes come out on every machine.
const RANS_L = 1 << 23;
const BYTE = 256;

/**
 * rANS encoder. Symbols are pushed in order and coded on `finish()` in reverse, as rANS requires,
 * so that the decoder reads them in push order. Slots live in typed arrays that double as they
 * fill (an object per symbol made encoding several times slower).
 */
export class RansEncoder {
  private starts = new Uint32Array(1024);
  private freqs = new Uint32Array(1024);
  private bits = new Uint8Array(1024);
  private count = 0;

  /** Pushes a symbol of frequency `freq` starting at `start`, out of 2^bits (bits <= 23, the state's lower bound). */
  put(start: number, freq: number, bits = CDF_PRECISION): void {
    if (!(bits >= 0 && bits <= 23 && freq > 0 && start >= 0 && start + freq <= 1 << bits)) throw new RangeError(`bad rANS slot [${start}, ${start + freq}) of 2^${bits}`);
    if (this.count === this.starts.length) this.grow();
    this.starts[this.count] = start;
    this.freqs[this.count] = freq;
    this.bits[this.count++] = bits;
  }

  /** Pushes `value` (0 <= value < 2^bits) with uniform probability. */
  putBits(value: number, bits: number): void {
    this.put(value, 1, bits);
  }

  private grow(): void {
    const size = this.starts.length * 2;
    const [starts, freqs, bits] = [new Uint32Array(size), new Uint32Array(size), new Uint8Array(size)];
    starts.set(this.starts);
    freqs.set(this.freqs);
    bits.set(this.bits);
    [this.starts, this.freqs, this.bits] = [starts, freqs, bits];
  }

  /**
   * The coded bytes. The state stays below 2^31, so it is updated with 32-bit integer operations
   * (the same values as floor and modulo, ten times faster); a symbol of at most 2^23 slots moves at
   * most 3 bytes out, so the buffer never grows.
   */
  finish(): Uint8Array {
    const { starts, freqs, bits } = this;
    const out = new Uint8Array(this.count * 3 + 4);
    let pos = out.length;
    let x = RANS_L;
    for (let i = this.count - 1; i >= 0; i--) {
      const start = starts[i]!;
      const freq = freqs[i]!;
      const b = bits[i]!;
      const xMax = (RANS_L >> b) * BYTE * freq;
      while (x >= xMax) {
        out[--pos] = x & 0xff;
        x >>= 8;
      }
      const q = (x / freq) | 0;
      x = ((q << b) + (x - q * freq) + start) | 0;
    }
    for (let k = 0; k < 4; k++) {
      out[--pos] = x & 0xff;
      x >>= 8;
    }
    return out.slice(pos);
  }
}

/** rANS decoder over bytes written by `RansEncoder.finish`. */
export class RansDecoder {
  private x = 0;
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {
    if (bytes.length < 4) throw new BitstreamError('entropy-coded stream is shorter than its 4-byte state');
    for (let k = 0; k < 4; k++) this.x = this.x * BYTE + bytes[k]!;
    this.pos = 4;
    if (this.x < RANS_L || this.x >= 2 ** 31) throw new BitstreamError('entropy-coded stream has an invalid initial state');
  }

  /** The cumulative value of the next symbol, out of 2^bits. */
  peek(bits = CDF_PRECISION): number {
    return this.x & ((1 << bits) - 1);
  }

  /** Consumes the symbol [start, start + freq) identified with `peek`. */
  advance(start: number, freq: number, bits = CDF_PRECISION): void {
    // the state stays below 2^31 (x >> bits < 2^(31 - bits), freq <= 2^bits): 32-bit integer operations
    let x = freq * (this.x >> bits) + (this.x & ((1 << bits) - 1)) - start;
    while (x < RANS_L) {
      if (this.pos >= this.bytes.length) throw new BitstreamError('entropy-coded stream is truncated');
      x = (x << 8) | this.bytes[this.pos++]!;
    }
    this.x = x;
  }

  /** Reads a value written with `putBits`. */
  getBits(bits: number): number {
    const value = this.peek(bits);
    this.advance(value, 1, bits);
    return value;
  }

  /** True when every byte was consumed and the state is back at its start, as after a clean decode. */
  get exhausted(): boolean {
    return this.pos === this.bytes.length && this.x === RANS_L;
  }
}
