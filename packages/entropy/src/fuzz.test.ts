import fc from 'fast-check';
import { LicBackdoorError } from '@lic-backdoor/core';
import { randomTables } from './__fixtures__/random-tables.js';
import { readBitstream, writeBitstream, type Bitstream } from './container.js';
import { decodeWithIndexes, encodeWithIndexes, type RansFormat } from './tables.js';

/**
 * Property-based tests over what strangers can send: the container parser and the rANS decoder
 * on arbitrary and mutated bytes. Each must return or throw this package's typed error
 * (`BITSTREAM`); nothing else, no hang. Case counts fit CI; `pnpm fuzz` runs far more.
 */
const RUNS = 300;

/** True when `fn` returns, or throws a typed error with code BITSTREAM; rethrows anything else. */
function returnsOrBitstreamError(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (error) {
    if (LicBackdoorError.isInstance(error) && error.code === 'BITSTREAM') return true;
    throw error;
  }
}

const bitstream = fc.record({
  codecId: fc.string({ maxLength: 40 }).filter((s) => new TextEncoder().encode(s).length <= 255),
  weightsHash: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  height: fc.integer({ min: 1, max: 65535 }),
  width: fc.integer({ min: 1, max: 65535 }),
  streams: fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }),
});

test('the container parser returns or throws BITSTREAM on any bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => returnsOrBitstreamError(() => readBitstream(bytes))), { numRuns: RUNS });
});

test('any valid bitstream round-trips; any mutation of it is rejected or changes nothing', () => {
  fc.assert(
    fc.property(bitstream, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (b: Bitstream, flips) => {
      const bytes = writeBitstream(b);
      expect(readBitstream(bytes)).toEqual(b);
      const bad = bytes.slice();
      for (const [at, mask] of flips) bad[at % bad.length]! ^= mask;
      // flips that cancel out leave the same file; every other change breaks the CRC
      if (bad.every((v, i) => v === bytes[i])) return true;
      expect(() => readBitstream(bad)).toThrow(expect.objectContaining({ code: 'BITSTREAM' }));
      return true;
    }),
    { numRuns: RUNS },
  );
});


test.each<RansFormat>(['lic-backdoor', 'compressai'])('the %s rANS decoder on arbitrary or damaged bytes returns the asked number of symbols or throws BITSTREAM, quickly', (format) => {
  const { tables: t } = randomTables(7, 5);
  const indexes = Int32Array.from({ length: 400 }, (_, k) => k % 5);
  const values = Int32Array.from(indexes, (i, k) => t.offsets[i]! + ((k * 13) % (t.cdfs[i]!.length + 2)) - 1);
  const good = encodeWithIndexes(values, indexes, t, format);
  const started = performance.now();
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat()).map(([at, mask, cut]) => {
      const bad = good.slice(0, Math.max(0, good.length - (cut % 8)));
      if (bad.length) bad[at % bad.length]! ^= mask;
      return bad;
    })), (bytes) =>
      returnsOrBitstreamError(() => {
        const decoded = decodeWithIndexes(bytes, indexes, t, format);
        expect(decoded).toHaveLength(indexes.length);
      }),
    ),
    { numRuns: RUNS },
  );
  // 2 x 300 decodes of 400 symbols: a hang would show here
  expect(performance.now() - started).toBeLessThan(20_000);
});

test("CompressAI's rANS format round-trips any int32 values under any tables", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.boolean()), { maxLength: 300 }), (seed, picks) => {
      const { tables: t } = randomTables(seed, 4);
      const indexes = Int32Array.from(picks, ([i]) => i % 4);
      // mostly values inside the tables, some anywhere in int32 (bypass-coded)
      const values = Int32Array.from(picks, ([i, v, wide], k) => (wide ? v : t.offsets[indexes[k]!]! + (Math.abs(v) % t.cdfs[i % 4]!.length)));
      const bytes = encodeWithIndexes(values, indexes, t, 'compressai');
      expect(bytes.length % 4).toBe(0);
      expect(Array.from(decodeWithIndexes(bytes, indexes, t, 'compressai'))).toEqual(Array.from(values));
      return true;
    }),
    { numRuns: RUNS },
  );
});
