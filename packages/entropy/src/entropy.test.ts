import { createHash } from 'node:crypto';
import { createRng } from '@lic-backdoor/core';
import { pmfToQuantizedCdf } from './cdf.js';
import { crc32 } from './crc32.js';
import { readBitstream, writeBitstream } from './container.js';
import { decodeWithIndexes, encodeWithIndexes } from './tables.js';
import { RansDecoder, RansEncoder } from './rans.js';
import { randomTables } from './__fixtures__/random-tables.js';


describe('quantized CDF tables', () => {
  it('sum to 2^16 with every frequency >= 1, even for vanishing probabilities', () => {
    const cdf = pmfToQuantizedCdf([0.999999, 1e-9, 1e-9, 0], 1e-12);
    expect(cdf[0]).toBe(0);
    expect(cdf[cdf.length - 1]).toBe(65536);
    for (let i = 1; i < cdf.length; i++) expect(cdf[i]! - cdf[i - 1]!).toBeGreaterThanOrEqual(1);
  });
});

describe('rANS with CDF tables', () => {
  it('round-trips random symbols under random CDFs, escapes included', () => {
    const { tables } = randomTables(1, 20);
    const rng = createRng(2);
    const n = 20000;
    const indexes = Int32Array.from({ length: n }, () => rng.int(20));
    const values = Int32Array.from(indexes, (i) => {
      const lo = tables.offsets[i]!;
      const span = tables.cdfs[i]!.length - 2;
      return rng.next() < 0.02 ? (rng.next() < 0.5 ? lo - 1 - rng.int(100000) : lo + span + rng.int(2 ** 30)) : lo + rng.int(span);
    });
    const bytes = encodeWithIndexes(values, indexes, tables);
    expect(decodeWithIndexes(bytes, indexes, tables)).toEqual(values);
  });

  it('codes 1e5 symbols within 1% of the entropy bound of their quantized tables', () => {
    const { tables } = randomTables(3, 8);
    const rng = createRng(4);
    const n = 100000;
    const indexes = Int32Array.from({ length: n }, () => rng.int(8));
    let bits = 0;
    const values = Int32Array.from(indexes, (i) => {
      const cdf = tables.cdfs[i]!;
      const u = rng.int(65536);
      let s = 0;
      while (cdf[s + 1]! <= u) s++;
      if (s === cdf.length - 2) s = 0; // keep to in-range symbols: the bound below is for them
      bits += -Math.log2((cdf[s + 1]! - cdf[s]!) / 65536);
      return s + tables.offsets[i]!;
    });
    const bytes = encodeWithIndexes(values, indexes, tables);
    expect(decodeWithIndexes(bytes, indexes, tables)).toEqual(values);
    const overhead = (bytes.length * 8) / bits - 1;
    console.log(`rANS: ${n} symbols, ${bytes.length} bytes, entropy bound ${(bits / 8).toFixed(0)} bytes, overhead ${(overhead * 100).toFixed(3)}%`);
    expect(overhead).toBeGreaterThanOrEqual(0);
    expect(overhead).toBeLessThan(0.01);
  });

  it('is deterministic: a golden md5 pins the bytes of a fixed input', () => {
    const { tables } = randomTables(5, 4);
    const indexes = Int32Array.from({ length: 1000 }, (_, k) => k % 4);
    const values = Int32Array.from(indexes, (i, k) => tables.offsets[i]! + ((k * 7) % (tables.cdfs[i]!.length + 3)) - 1);
    const bytes = encodeWithIndexes(values, indexes, tables);
    expect(createHash('md5').update(bytes).digest('hex')).toBe('a9c723babaaec620bffb4a72bc343cbc');
  });

  it('a damaged or truncated stream throws instead of hanging or returning garbage silently', () => {
    const { tables } = randomTables(6, 4);
    const indexes = Int32Array.from({ length: 500 }, (_, k) => k % 4);
    const values = Int32Array.from(indexes, (i) => tables.offsets[i]!);
    const bytes = encodeWithIndexes(values, indexes, tables);
    expect(() => decodeWithIndexes(bytes.subarray(0, bytes.length - 3), indexes, tables)).toThrow(/truncated|inconsistent|damaged/);
    expect(() => decodeWithIndexes(bytes.subarray(0, 2), indexes, tables)).toThrow(/shorter/);
    // the encoder's state stays below 2^31; a first byte of 128 or more cannot come from it
    const high = Uint8Array.from(bytes);
    high[0] = 0x80;
    expect(() => decodeWithIndexes(high, indexes, tables)).toThrow(/invalid initial state/);
  });

  it('RansEncoder refuses slots it cannot code: beyond 2^bits, empty, or bits above 23', () => {
    expect(() => new RansEncoder().put(65535, 2, 16)).toThrow(/bad rANS slot/);
    expect(() => new RansEncoder().put(0, 0, 16)).toThrow(/bad rANS slot/);
    expect(() => new RansEncoder().put(0, 1, 24)).toThrow(/bad rANS slot/);
    const enc = new RansEncoder();
    for (let k = 0; k < 3000; k++) enc.put(k % 2 ? 0 : 1, k % 2 ? 1 : (1 << 23) - 1, 23);
    const dec = new RansDecoder(enc.finish());
    for (let k = 0; k < 3000; k++) {
      const [start, freq] = k % 2 ? [0, 1] : [1, (1 << 23) - 1];
      expect(dec.peek(23) >= start && dec.peek(23) < start + freq).toBe(true);
      dec.advance(start, freq, 23);
    }
    expect(dec.exhausted).toBe(true);
  });
});

describe('bitstream container', () => {
  const sample = {
    codecId: 'codec:bmshj2018-factorized',
    weightsHash: Uint8Array.from({ length: 16 }, (_, i) => i * 3),
    height: 512,
    width: 768,
    streams: [Uint8Array.from([1, 2, 3]), Uint8Array.from([9, 8])],
  };

  it('round-trips every field', () => {
    expect(readBitstream(writeBitstream(sample))).toEqual(sample);
  });

  it('every single-byte flip and every truncation is rejected with a clear error', () => {
    const bytes = writeBitstream(sample);
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i]! ^= 0x5a;
      expect(() => readBitstream(bad)).toThrow(/not a valid lic-backdoor bitstream/);
    }
    for (let n = 0; n < bytes.length; n++) expect(() => readBitstream(bytes.subarray(0, n))).toThrow(/not a valid lic-backdoor bitstream/);
    // this package's own error code, on the toolkit's base class
    expect(() => readBitstream(bytes.subarray(0, 5))).toThrow(expect.objectContaining({ code: 'BITSTREAM' }));
  });

  it('CRC-32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
