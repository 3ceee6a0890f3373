import { FlatAdam } from './adam.js';

describe('FlatAdam', () => {
  it('follows PyTorch Adam: the first step moves each parameter by lr x sign(g)', () => {
    const adam = new FlatAdam(3, { learningRate: 0.01 });
    const p = new Float32Array([1, 2, 3]);
    adam.update(p, new Float32Array([0.5, -2, 0]));
    expect(p[0]).toBeCloseTo(1 - 0.01, 6);
    expect(p[1]).toBeCloseTo(2 + 0.01, 6);
    expect(p[2]).toBe(3);
  });

  it('matches a float64 reference over 50 steps of a quadratic', () => {
    const adam = new FlatAdam(1, { learningRate: 0.1, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 });
    const p = new Float32Array([5]);
    let [x, m, v] = [5, 0, 0];
    for (let t = 1; t <= 50; t++) {
      adam.update(p, new Float32Array([2 * p[0]!]));
      const g = 2 * x;
      m = 0.8 * m + 0.2 * g;
      v = 0.99 * v + 0.01 * g * g;
      x -= ((0.1 / (1 - 0.8 ** t)) * m) / (Math.sqrt(v) / Math.sqrt(1 - 0.99 ** t) + 1e-6);
    }
    expect(p[0]).toBeCloseTo(x, 4);
    expect(adam.state.step).toBe(50);
  });

  it('clips the gradient norm as clip_grad_norm_ does, and returns the norm before clipping', () => {
    // a gradient (3, 4) of norm 5 clipped to 1 becomes (3, 4) / (5 + 1e-6); after two steps the
    // moments of the clipped run equal those of an unclipped run fed the clipped gradient
    const clipped = new FlatAdam(2, { learningRate: 0.01, clipNorm: 1 });
    const reference = new FlatAdam(2, { learningRate: 0.01 });
    const [p, q] = [new Float32Array([1, 1]), new Float32Array([1, 1])];
    expect(clipped.update(p, new Float32Array([3, 4]))).toBeCloseTo(5, 6);
    reference.update(q, new Float32Array([3 / (5 + 1e-6), 4 / (5 + 1e-6)]));
    expect(clipped.update(p, new Float32Array([0.3, 0.4]))).toBeCloseTo(0.5, 6); // under the bound: unchanged
    reference.update(q, new Float32Array([0.3, 0.4]));
    for (const [a, b] of [[clipped.state.m, reference.state.m], [clipped.state.v, reference.state.v], [p, q]] as const) {
      for (let i = 0; i < 2; i++) expect(a[i]).toBeCloseTo(b[i]!, 7);
    }
    expect(clipped.state.m[0]).toBeCloseTo(0.9 * 0.1 * 0.6 + 0.1 * 0.3, 6);
  });

  it('rejects a clip norm that is not positive', () => {
    expect(() => new FlatAdam(2, { learningRate: 1, clipNorm: 0 })).toThrow(/clipNorm/);
  });

  it('rejects arrays of the wrong size', () => {
    expect(() => new FlatAdam(2, { learningRate: 1 }).update(new Float32Array(3), new Float32Array(3))).toThrow(/over 2 values/);
  });
});
