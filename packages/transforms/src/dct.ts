import * as tf from '@tensorflow/tfjs-core';

/**
 * Scaling of the DCT-II. `orthonormal`: X_k = c_k sum_i x_i cos(pi (2i+1) k / 2n) with
 * c_0 = sqrt(1/n), c_k = sqrt(2/n), so the transform preserves energy and its inverse is its
 * transpose. `unnormalized`: c_k = 1 for every k; the inverse then carries 1/n and 2/n.
 */
export type DctNormalization = 'orthonormal' | 'unnormalized';

/** The n x n DCT-II matrix D (row k = frequency, column i = sample): X = D x. */
export function dctMatrix(n: number, normalization: DctNormalization = 'orthonormal'): Float64Array {
  const d = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const c = normalization === 'orthonormal' ? Math.sqrt((k === 0 ? 1 : 2) / n) : 1;
    for (let i = 0; i < n; i++) d[k * n + i] = c * Math.cos((Math.PI * (2 * i + 1) * k) / (2 * n));
  }
  return d;
}

/** The inverse of `dctMatrix(n, normalization)`: x = Dinv X, Dinv[i][k]. */
export function idctMatrix(n: number, normalization: DctNormalization = 'orthonormal'): Float64Array {
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const c = normalization === 'orthonormal' ? Math.sqrt((k === 0 ? 1 : 2) / n) : (k === 0 ? 1 : 2) / n;
      d[i * n + k] = c * Math.cos((Math.PI * (2 * i + 1) * k) / (2 * n));
    }
  }
  return d;
}

/** Kronecker product A (x) A of an n x n matrix: [u*n+v, i*n+j] = A[u][i] A[v][j]. */
function kron2(a: Float64Array, n: number): Float32Array {
  const out = new Float32Array(n ** 4);
  for (let u = 0; u < n; u++)
    for (let v = 0; v < n; v++)
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) out[(u * n + v) * n * n + i * n + j] = a[u * n + i]! * a[v * n + j]!;
  return out;
}

function checkBlocks(shape: number[], n: number): [number, number, number, number] {
  if (shape.length !== 4) throw new RangeError(`expected [B, H, W, C], got [${shape.join(', ')}]`);
  const [b, h, w, c] = shape as [number, number, number, number];
  if (h % n !== 0 || w % n !== 0) throw new RangeError(`image ${h}x${w} is not a multiple of the block size ${n}`);
  return [b, h, w, c];
}

/**
 * 2-D DCT-II of every non-overlapping n x n block of every channel, as one matMul with
 * kron(D, D) (differentiable). Input [B, H, W, C] with H and W multiples of n. Output
 * [B, H/n, W/n, n*n, C]: coefficient index u*n + v (u vertical, v horizontal frequency).
 */
export function blockDct(x: tf.Tensor, n: number, normalization: DctNormalization = 'orthonormal'): tf.Tensor5D {
  const [b, h, w, c] = checkBlocks(x.shape, n);
  return tf.tidy(() => {
    const basis = tf.tensor2d(kron2(dctMatrix(n, normalization), n), [n * n, n * n]);
    const blocks = tf.transpose(tf.reshape(x, [b * (h / n), n, w / n, n, c]), [0, 2, 4, 1, 3]);
    const coeffs = tf.matMul(tf.reshape(blocks, [-1, n * n]), basis, false, true);
    const out = tf.transpose(tf.reshape(coeffs, [b * (h / n), w / n, c, n * n]), [0, 1, 3, 2]);
    return tf.reshape(out, [b, h / n, w / n, n * n, c]) as tf.Tensor5D;
  });
}

/** Inverse of `blockDct`: [B, H/n, W/n, n*n, C] coefficients -> [B, H, W, C] samples. */
export function blockIdct(coefficients: tf.Tensor, n: number, normalization: DctNormalization = 'orthonormal'): tf.Tensor4D {
  const shape = coefficients.shape;
  if (shape.length !== 5 || shape[3] !== n * n) throw new RangeError(`expected [B, H/n, W/n, ${n * n}, C], got [${shape.join(', ')}]`);
  const [b, hb, wb, , c] = shape as [number, number, number, number, number];
  return tf.tidy(() => {
    const basis = tf.tensor2d(kron2(idctMatrix(n, normalization), n), [n * n, n * n]);
    const flat = tf.reshape(tf.transpose(tf.reshape(coefficients, [b * hb, wb, n * n, c]), [0, 1, 3, 2]), [-1, n * n]);
    const samples = tf.reshape(tf.matMul(flat, basis, false, true), [b * hb, wb, c, n, n]);
    return tf.reshape(tf.transpose(samples, [0, 3, 1, 4, 2]), [b, hb * n, wb * n, c]) as tf.Tensor4D;
  });
}
