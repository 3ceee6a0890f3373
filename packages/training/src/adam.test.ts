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

  it('rejects arrays of the wrong size', () => {
    expect(() => new FlatAdam(2, { learningRate: 1 }).update(new Float32Array(3), new Float32Array(3))).toThrow(/over 2 values/);
  });
});
