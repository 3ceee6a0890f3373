/**
 * Watches a training loss for divergence: a non-finite loss, or a loss above `factor` times the
 * median of the last `window` losses (once `window` losses are known). Training stops before the
 * diverged step is checkpointed, so the last checkpoint stays usable.
 */
export class DivergenceGuard {
  private readonly recent: number[] = [];

  constructor(
    private readonly factor = 20,
    private readonly window = 100,
  ) {}

  /** Records `loss`; returns why training diverged, or undefined. */
  check(loss: number): string | undefined {
    if (!Number.isFinite(loss)) return `loss is ${loss}`;
    if (this.recent.length >= this.window) {
      const median = [...this.recent].sort((a, b) => a - b)[Math.floor(this.recent.length / 2)]!;
      if (loss > this.factor * median) return `loss ${loss.toPrecision(4)} is over ${this.factor} x the median ${median.toPrecision(4)} of the last ${this.window} steps`;
      this.recent.shift();
    }
    this.recent.push(loss);
    return undefined;
  }
}
