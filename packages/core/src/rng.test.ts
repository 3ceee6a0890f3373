import { createRng } from './rng.js';

describe('createRng', () => {
  it('the same seed gives the same sequence, another seed another one', () => {
    const a = Array.from({ length: 5 }, createRng(7).next);
    const b = Array.from({ length: 5 }, createRng(7).next);
    const c = Array.from({ length: 5 }, createRng(8).next);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('uniforms have mean 1/2 and normals mean 0, variance 1 (n = 1e5)', () => {
    const rng = createRng(1);
    const u = rng.uniformArray(100000);
    const n = rng.normalArray(100000);
    const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
    expect(mean(u)).toBeCloseTo(0.5, 2);
    expect(mean(n)).toBeCloseTo(0, 1);
    expect(mean(n.map((v) => v * v))).toBeCloseTo(1, 1);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
  });

  it('int(n) covers 0..n-1 uniformly and fork is deterministic and independent', () => {
    const rng = createRng(3);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40000; i++) counts[rng.int(4)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    expect(createRng(3).fork('data').next()).toBe(createRng(3).fork('data').next());
    expect(createRng(3).fork('data').next()).not.toBe(createRng(3).fork('init').next());
  });

  it('rejects a non-integer seed', () => {
    expect(() => createRng(1.5)).toThrow(/integer/);
  });
});
