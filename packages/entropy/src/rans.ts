import { CDF_PRECISION } from './cdf.js';
import { BitstreamError } from './errors.js';

// 32-bit rANS with byte-wise renormalisation (state in [2^23, 2^31)), integer arithmetic on
// JS numbers (exact below 2^53), so the same bytes come out on every machine.
const RANS_L = 1 << 23;
const BYTE = 256;

/** One coded unit: [start, start + freq) out of 2^precisionBits. */
interface Slot {
  start: number;
  freq: number;
  bits: number;
}

/**
 * rANS encoder. Symbols are pushed in order and coded on `finish()` in reverse, as rANS requires,
 * so that the decoder reads them in push order.
 */
export class RansEncoder {
  private readonly slots: Slot[] = [];

  /** Pushes a symbol of frequency `freq` starting at `start`, out of 2^bits. */
  put(start: number, freq: number, bits = CDF_PRECISION): void {
    if (freq <= 0 || start < 0 || start + freq > 2 ** bits) throw new RangeError(`bad rANS slot [${start}, ${start + freq}) of 2^${bits}`);
    this.slots.push({ start, freq, bits });
  }

  /** Pushes `value` (0 <= value < 2^bits) with uniform probability. */
  putBits(value: number, bits: number): void {
    this.put(value, 1, bits);
  }

  /** The coded bytes. */
  finish(): Uint8Array {
    let out = new Uint8Array(Math.max(64, this.slots.length * 2 + 8));
    let pos = out.length;
    const emit = (byte: number) => {
      if (pos === 0) {
        const bigger = new Uint8Array(out.length * 2);
        bigger.set(out, out.length);
        pos = out.length;
        out = bigger;
      }
      out[--pos] = byte;
    };
    let x = RANS_L;
    for (let i = this.slots.length - 1; i >= 0; i--) {
      const { start, freq, bits } = this.slots[i]!;
      const xMax = (RANS_L / 2 ** bits) * BYTE * freq;
      while (x >= xMax) {
        emit(x % BYTE);
        x = Math.floor(x / BYTE);
      }
      x = Math.floor(x / freq) * 2 ** bits + (x % freq) + start;
    }
    for (let k = 0; k < 4; k++) {
      emit(x % BYTE);
      x = Math.floor(x / BYTE);
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
    if (this.x < RANS_L) throw new BitstreamError('entropy-coded stream has an invalid initial state');
  }

  /** The cumulative value of the next symbol, out of 2^bits. */
  peek(bits = CDF_PRECISION): number {
    return this.x % 2 ** bits;
  }

  /** Consumes the symbol [start, start + freq) identified with `peek`. */
  advance(start: number, freq: number, bits = CDF_PRECISION): void {
    this.x = freq * Math.floor(this.x / 2 ** bits) + (this.x % 2 ** bits) - start;
    while (this.x < RANS_L) {
      if (this.pos >= this.bytes.length) throw new BitstreamError('entropy-coded stream is truncated');
      this.x = this.x * BYTE + this.bytes[this.pos++]!;
    }
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
