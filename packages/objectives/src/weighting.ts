/** How the attack combines its loss terms. */
export type WeightingMode = 'fixed' | 'dynamic';

export interface WeightingOptions {
  mode: WeightingMode;
  /** Base weight of each term by name (1 when absent). */
  base: Record<string, number>;
  /** Decay of the running magnitude (dynamic mode). */
  beta: number;
  /** A term's magnitude is taken as at least this fraction of its largest magnitude so far (dynamic mode). */
  floorFraction: number;
}

/** What `LossWeighting` keeps between steps (saved in checkpoints). */
export interface WeightingState {
  /** Bias-uncorrected exponential moving average of each term's unweighted loss. */
  average: Record<string, number>;
  /** Largest bias-corrected average seen so far, per term. */
  peak: Record<string, number>;
  /** Steps seen. */
  steps: number;
}

/**
 * Weights of the attack's loss terms, total = sum_i w_i L_i.
 * - `fixed`: w_i = base_i.
 * - `dynamic` (this project's formula, not the paper's, which is not public):
 *   w_i = base_i / max(m_i, floorFraction x peak_i), where m_i is the bias-corrected exponential
 *   moving average (decay beta) of term i's unweighted batch loss over the previous steps and
 *   peak_i the largest m_i so far. Every term thus contributes about base_i whatever its units;
 *   a hinged term that meets its target has L_i = 0, gives no gradient, and its weight rises (at
 *   most 1 / floorFraction times) so that a later violation is pulled back quickly. Before a
 *   term has a non-zero magnitude, w_i = base_i. The weights are numbers (no gradient flows
 *   through them) and are the same for every shard of a step.
 */
export class LossWeighting {
  private state: WeightingState = { average: {}, peak: {}, steps: 0 };

  constructor(readonly options: WeightingOptions) {}

  /** Weights for the next step, for the given term names. */
  weights(names: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of names) {
      const base = this.options.base[name] ?? 1;
      const peak = this.state.peak[name] ?? 0;
      if (this.options.mode === 'fixed' || peak === 0) {
        out[name] = base;
        continue;
      }
      const corrected = this.state.average[name]! / (1 - this.options.beta ** this.state.steps);
      out[name] = base / Math.max(corrected, this.options.floorFraction * peak);
    }
    return out;
  }

  /** Records the unweighted batch losses of the step just taken. */
  update(losses: Record<string, number>): void {
    const { beta } = this.options;
    this.state.steps++;
    for (const [name, value] of Object.entries(losses)) {
      const avg = beta * (this.state.average[name] ?? 0) + (1 - beta) * value;
      this.state.average[name] = avg;
      this.state.peak[name] = Math.max(this.state.peak[name] ?? 0, avg / (1 - beta ** this.state.steps));
    }
  }

  getState(): WeightingState {
    return structuredClone(this.state);
  }

  setState(state: WeightingState): void {
    this.state = structuredClone(state);
  }
}
