/**
 * JPEG's zig-zag scan of an n x n block: entry k is the row-major index (u * n + v, u the vertical
 * frequency) of the k-th coefficient in scan order. Anti-diagonals s = u + v in order; on odd s
 * the row index increases, on even s it decreases, as in JPEG.
 */
export function zigzagOrder(n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`block size must be a positive integer, got ${n}`);
  const order: number[] = [];
  for (let s = 0; s <= 2 * (n - 1); s++) {
    const lo = Math.max(0, s - (n - 1));
    const hi = Math.min(s, n - 1);
    for (let k = 0; k <= hi - lo; k++) {
      const u = s % 2 === 1 ? lo + k : hi - k;
      order.push(u * n + (s - u));
    }
  }
  return order;
}

/** Inverse of `zigzagOrder`: rank[u * n + v] is the position of that coefficient in the scan. */
export function zigzagRank(n: number): number[] {
  const rank = new Array<number>(n * n);
  zigzagOrder(n).forEach((index, k) => (rank[index] = k));
  return rank;
}

/**
 * The coefficients whose zig-zag rank lies in [fromRank, toRank), as row-major indices in scan
 * order. The paper's "mid frequencies" of a 16 x 16 block are `frequencyBand(16, 96, 160)`.
 */
export function frequencyBand(n: number, fromRank: number, toRank: number): number[] {
  if (fromRank < 0 || toRank > n * n || fromRank >= toRank) {
    throw new RangeError(`band [${fromRank}, ${toRank}) is not inside [0, ${n * n}) for block size ${n}`);
  }
  return zigzagOrder(n).slice(fromRank, toRank);
}
