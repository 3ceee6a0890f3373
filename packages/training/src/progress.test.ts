import { Progress } from './progress';

describe('Progress (plain lines, not a terminal)', () => {
  let lines: string[];
  let write: jest.SpyInstance;
  beforeEach(() => {
    jest.useFakeTimers();
    lines = [];
    write = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => lines.push(String(s)) > 0);
  });
  afterEach(() => {
    write.mockRestore();
    jest.useRealTimers();
  });

  it('prints every `every` steps with the time left at this pace', () => {
    const p = new Progress('job', 100, 10);
    jest.advanceTimersByTime(20_000);
    p.update(5, 'skip');
    p.update(10, 'loss 1');
    expect(lines).toEqual(['job 10/100 (10.0%) loss 1 | 0m20s elapsed, 3m00s left\n']);
  });

  it('a resumed run estimates from the steps done since it started, not from step 0', () => {
    const p = new Progress('job', 1000, 100, 500);
    jest.advanceTimersByTime(100_000);
    p.update(600, 'x');
    // 100 steps in 100 s: 400 left take 400 s
    expect(lines).toEqual(['job 600/1000 (60.0%) x | 1m40s elapsed, 6m40s left\n']);
  });
});
