/** How the attack combines its loss terms. */
export type WeightingMode = 'fixed' | 'dynamic';

export interface WeightingOptions {
  mode: WeightingMode;
  /** Base weight of each term by name (1 when absent). */
  base: Record<string, number>;
  /** Decay of the running magnitude of each term (dynamic mode). */
  beta: number;
  /** Temperature of the softmax over progress ratios (dynamic mode); lower favours lagging terms more. */
  temperature: number;
}

/** What `LossWeighting` keeps between steps (saved in checkpoints). */
export interface WeightingState {
  /** Bias-uncorrected exponential moving average of each term's unweighted loss. */
  average: Record<string, number>;
  /** Steps each term has been averaged over. */
  count: Record<string, number>;
  /** Scale of each term: its first non-zero bias-corrected average. */
  scale: Record<string, number>;
}

/**
 * Weights of the attack's loss terms, total = sum_i w_i L_i.
 * - `fixed`: w_i = base_i.
 * - `dynamic` (this project's formula, not the paper's, whose formula is not public; in the
 *   spirit of Dynamic Weight Average, Liu et al. 2019):
 *     r_i = m_i / s_i,   w_i = base_i / s_i x n x softmax_i(r / temperature)
 *   where m_i is the bias-corrected exponential moving average (decay beta) of term i's
 *   unweighted batch loss over the previous steps, s_i its first non-zero value (the term's
 *   scale, so that every term starts at about base_i whatever its units), and n the number of
 *   terms with a scale. r_i is how much of its initial loss a term still has: terms that lag
 *   get more weight than terms that are nearly met, and a term whose loss grows past its start
 *   (a clean-preservation term being eroded) gets the most. Met hinged terms have L_i = 0 and
 *   give no gradient. Before a term has a scale, w_i = base_i. The weights are plain numbers
 *   (no gradient flows through them), the same for every shard of a step.
 */
export class LossWeighting {
  private state: WeightingState = { average: {}, count: {}, scale: {} };

  constructor(readonly options: WeightingOptions) {}

  private running(name: string): number {
    const n = this.state.count[name] ?? 0;
    return n ? this.state.average[name]! / (1 - this.options.beta ** n) : 0;
  }

  /** Weights for the next step, for the given term names. */
  weights(names: readonly string[]): Record<string, number> {
    const base = (name: string) => this.options.base[name] ?? 1;
    const scaled = names.filter((n) => this.options.mode === 'dynamic' && this.state.scale[n]);
    const ratios = scaled.map((n) => this.running(n) / this.state.scale[n]! / this.options.temperature);
    const top = Math.max(...ratios);
    const exps = ratios.map((r) => Math.exp(r - top));
    const sum = exps.reduce((a, b) => a + b, 0);
    const out: Record<string, number> = {};
    for (const name of names) out[name] = base(name);
    scaled.forEach((name, i) => (out[name] = (base(name) / this.state.scale[name]!) * ((scaled.length * exps[i]!) / sum)));
    return out;
  }

  /** Records the unweighted batch losses of the step just taken. */
  update(losses: Record<string, number>): void {
    const { beta } = this.options;
    for (const [name, value] of Object.entries(losses)) {
      this.state.average[name] = beta * (this.state.average[name] ?? 0) + (1 - beta) * value;
      this.state.count[name] = (this.state.count[name] ?? 0) + 1;
      const m = this.running(name);
      if (!this.state.scale[name] && m > 0) this.state.scale[name] = m;
    }
  }

  getState(): WeightingState {
    return structuredClone(this.state);
  }

  setState(state: WeightingState): void {
    this.state = structuredClone(state);
  }
}
