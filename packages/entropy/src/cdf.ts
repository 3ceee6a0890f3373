/** Bits of precision of every CDF table: frequencies sum to 2^16. */
export const CDF_PRECISION = 16;
const TOTAL = 1 << CDF_PRECISION;

/**
 * Quantizes a probability mass function (plus the tail mass, which becomes the last, escape,
 * symbol) to an integer CDF of length pmf.length + 2 with cdf[0] = 0 and cdf[last] = 2^16, in which
 * every symbol has frequency >= 1. Frequencies are rounded, then the difference to 2^16 is taken
 * from (or given to) the largest bins, so the table is a deterministic function of its input.
 */
export function pmfToQuantizedCdf(pmf: ArrayLike<number>, tailMass: number): Int32Array {
  const n = pmf.length + 1;
  if (n > TOTAL) throw new RangeError(`a table of ${n} symbols cannot fit ${CDF_PRECISION}-bit precision`);
  const probs = Array.from({ length: n }, (_, i) => Math.max(0, i < pmf.length ? pmf[i]! : tailMass));
  const mass = probs.reduce((a, b) => a + b, 0);
  const freq = probs.map((p) => Math.max(1, Math.round((mass > 0 ? p / mass : 1 / n) * TOTAL)));
  let excess = freq.reduce((a, b) => a + b, 0) - TOTAL;
  const order = [...freq.keys()].sort((a, b) => freq[b]! - freq[a]! || a - b);
  for (let k = 0; excess !== 0; k = (k + 1) % n) {
    const i = order[k]!;
    if (excess > 0) {
      const take = Math.min(excess, freq[i]! - 1);
      freq[i]! -= take;
      excess -= take;
    } else {
      freq[i]! -= excess;
      excess = 0;
    }
  }
  const cdf = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) cdf[i + 1] = cdf[i]! + freq[i]!;
  return cdf;
}
