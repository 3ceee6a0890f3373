import { frequencyBand, zigzagOrder, zigzagRank } from './zigzag.js';

// The zig-zag sequence of ITU T.81 (JPEG), Figure A.6, as row-major indices.
const JPEG_ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42,
  49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

describe('zig-zag', () => {
  it("8 x 8 order equals JPEG's", () => {
    expect(zigzagOrder(8)).toEqual(JPEG_ZIGZAG);
  });

  it('is a permutation whose rank inverts it, for n = 16', () => {
    const order = zigzagOrder(16);
    expect(new Set(order).size).toBe(256);
    const rank = zigzagRank(16);
    order.forEach((index, k) => expect(rank[index]).toBe(k));
    expect(order[255]).toBe(255);
  });

  it('the 16 x 16 mid band (ranks 96-159) holds 64 coefficients on anti-diagonals 13 to 17', () => {
    const band = frequencyBand(16, 96, 160);
    expect(band).toHaveLength(64);
    const diagonals = band.map((i) => Math.floor(i / 16) + (i % 16));
    expect(Math.min(...diagonals)).toBe(13);
    expect(Math.max(...diagonals)).toBe(17);
    expect(() => frequencyBand(16, 200, 300)).toThrow(/not inside/);
  });
});
