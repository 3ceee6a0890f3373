/**
 * Progress of a long stage: a single updating line on a terminal, a plain line every `every`
 * steps (and at the end) otherwise, so logs stay readable.
 */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly started = performance.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly every = 10,
  ) {}

  update(done: number, status: string): void {
    const elapsed = (performance.now() - this.started) / 1000;
    const rate = done > 0 ? elapsed / done : 0;
    const eta = rate * (this.total - done);
    const line = `${this.label} ${done}/${this.total} (${((100 * done) / this.total).toFixed(1)}%) ${status} | ${fmt(elapsed)} elapsed, ${fmt(eta)} left`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else if (done % this.every === 0 || done === this.total) process.stderr.write(`${line}\n`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

function fmt(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}
