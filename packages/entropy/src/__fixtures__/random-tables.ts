import { createRng } from '@lic-backdoor/core';
import { pmfToQuantizedCdf } from '../cdf.js';
import type { CdfTables } from '../tables.js';

/** `count` random CDF tables (2-41 symbols, offsets below 0) from `seed`, with their pmfs: test data. */
export function randomTables(seed: number, count: number): { tables: CdfTables; pmfs: number[][] } {
  const rng = createRng(seed);
  const pmfs: number[][] = [];
  const cdfs: Int32Array[] = [];
  const offsets = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const n = 2 + rng.int(40);
    const raw = Array.from({ length: n }, () => rng.next() ** 3 + 1e-4);
    const sum = raw.reduce((a, b) => a + b, 0);
    const pmf = raw.map((r) => (r / sum) * 0.999);
    pmfs.push(pmf);
    cdfs.push(pmfToQuantizedCdf(pmf, 0.001));
    offsets[i] = -rng.int(n);
  }
  return { tables: { cdfs, offsets }, pmfs };
}
