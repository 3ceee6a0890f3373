/** How the attack combines its loss terms. */
export type WeightingMode = 'fixed' | 'dynamic' | 'constraints';

export interface WeightingOptions {
  mode: WeightingMode;
  /** Base weight of each term by name (1 when absent). */
  base: Record<string, number>;
  /** Decay of the running magnitude of each term (dynamic mode). */
  beta: number;
  /** Temperature of the softmax over progress ratios (dynamic mode); lower favours lagging terms more. */
  temperature: number;
  /** Constraints mode: how far a multiplier moves per step per unit of relative violation. */
  rate?: number;
  /** Constraints mode: the relative loss (of the term's start) below which a constraint counts as met and its multiplier shrinks. */
  slack?: number;
  /** Constraints mode: multipliers stay within [1 / maxMultiplier, maxMultiplier]. */
  maxMultiplier?: number;
}

/** What `LossWeighting` keeps between steps (saved in checkpoints). */
export interface WeightingState {
  /** Bias-uncorrected exponential moving average of each term's unweighted loss. */
  average: Record<string, number>;
  /** Steps each term has been averaged over. */
  count: Record<string, number>;
  /** Scale of each term: its first non-zero bias-corrected average. */
  scale: Record<string, number>;
  /** Constraints mode: each constraint's multiplier (1 when absent). */
  multiplier?: Record<string, number>;
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
 *   give no gradient. Before a term has a scale, w_i = base_i.
 * - `constraints` (this project's, after the method of multipliers): the clean terms are what is
 *   minimised, w_i = base_i; every trigger term (a hinge that reaches 0 when its target is met),
 *   and every clean term named in `cleanConstraints` (made by an objective plugin that declares
 *   `constraint`, e.g. `keep-original`), is a constraint, w_i = base_i x lambda_i, with lambda_i
 *   starting at 1 and updated after each step by dual ascent on the term's relative violation
 *   r_i = m_i / s_i (m_i and s_i as above; a term met at the start takes its first violation as s_i):
 *     lambda_i <- clip(lambda_i + rate x (r_i - slack), 1 / maxMultiplier, maxMultiplier)
 *   so that a constraint far from met gains weight every step, one met to within `slack` of its
 *   start loses it slowly, and no term is divided by its (possibly tiny) starting loss.
 * The weights are plain numbers (no gradient flows through them), the same for every shard of a step.
 */
export class LossWeighting {
  private state: WeightingState = { average: {}, count: {}, scale: {}, multiplier: {} };

  /** `cleanConstraints`: the clean terms (`clean.<objective>`) that are constraints in `constraints` mode. */
  constructor(
    readonly options: WeightingOptions,
    readonly cleanConstraints: readonly string[] = [],
  ) {}

  /** Trigger terms, and the clean terms named in `cleanConstraints`: multiplied in `constraints` mode. */
  private isConstraint(name: string): boolean {
    return !name.startsWith('clean.') || this.cleanConstraints.includes(name);
  }

  private running(name: string): number {
    const n = this.state.count[name] ?? 0;
    return n ? this.state.average[name]! / (1 - this.options.beta ** n) : 0;
  }

  /** Weights for the next step, for the given term names. */
  weights(names: readonly string[]): Record<string, number> {
    const base = (name: string) => this.options.base[name] ?? 1;
    if (this.options.mode === 'constraints') return Object.fromEntries(names.map((n) => [n, base(n) * (this.isConstraint(n) ? (this.state.multiplier?.[n] ?? 1) : 1)]));
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
      if (this.options.mode === 'constraints' && this.isConstraint(name) && this.state.scale[name]) {
        const { rate = 0.05, slack = 0.1, maxMultiplier = 10 } = this.options;
        const multipliers = (this.state.multiplier ??= {});
        const next = (multipliers[name] ?? 1) + rate * (m / this.state.scale[name]! - slack);
        multipliers[name] = Math.min(maxMultiplier, Math.max(1 / maxMultiplier, next));
      }
    }
  }

  getState(): WeightingState {
    return structuredClone(this.state);
  }

  setState(state: WeightingState): void {
    this.state = structuredClone(state);
  }
}
