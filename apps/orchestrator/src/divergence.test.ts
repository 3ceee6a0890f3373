import { DivergenceGuard } from './divergence';

describe('DivergenceGuard', () => {
  it('flags a non-finite loss at once', () => {
    expect(new DivergenceGuard().check(Number.NaN)).toMatch(/loss is NaN/);
    expect(new DivergenceGuard().check(Number.POSITIVE_INFINITY)).toMatch(/Infinity/);
  });

  it('flags a loss far above the recent median, and only after a full window', () => {
    const guard = new DivergenceGuard(20, 10);
    // noisy but healthy losses around 4, as in codec training
    for (let i = 0; i < 30; i++) expect(guard.check(4 + (i % 5))).toBeUndefined();
    // a bad batch at 3x passes, a blow-up at 25x the median (7 with the 18 in the window) does not
    expect(guard.check(18)).toBeUndefined();
    expect(guard.check(180)).toMatch(/over 20 x the median 7/);
    const young = new DivergenceGuard(20, 10);
    expect(young.check(4)).toBeUndefined();
    expect(young.check(1000)).toBeUndefined();
  });
});
