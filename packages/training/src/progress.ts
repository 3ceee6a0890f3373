import { SingleBar } from 'cli-progress';

/**
 * Progress of a long stage: a cli-progress bar on a terminal, a plain line every `every` steps
 * (and at the end) otherwise, so logs stay readable.
 */
export class Progress {
  private readonly bar: SingleBar | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly every = 10,
    /** Steps already done before this process started (a resumed run): the ETA counts only this process's pace. */
    private readonly start = 0,
  ) {
    if (process.stderr.isTTY) {
      this.bar = new SingleBar({ stream: process.stderr, format: `${label} [{bar}] {value}/{total} {percentage}% | {status} | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 20 });
      this.bar.start(total, start, { status: '' });
    }
  }

  update(done: number, status: string): void {
    if (this.bar) {
      this.bar.update(done, { status });
      return;
    }
    if (done % this.every !== 0 && done !== this.total) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = done > this.start ? (elapsed / (done - this.start)) * (this.total - done) : 0;
    process.stderr.write(`${this.label} ${done}/${this.total} (${((100 * done) / this.total).toFixed(1)}%) ${status} | ${fmt(elapsed)} elapsed, ${fmt(eta)} left\n`);
  }

  done(): void {
    this.bar?.stop();
  }
}

function fmt(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}
