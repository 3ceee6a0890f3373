/** Adam hyper-parameters of one parameter group (PyTorch's defaults). */
export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /**
   * Largest L2 norm of the group's gradient: a larger gradient is scaled down to this norm before
   * the update, as PyTorch's `clip_grad_norm_` does (CompressAI's training script uses 1.0).
   * Unset: no clipping.
   */
  clipNorm?: number;
}

/** Everything needed to resume an Adam optimizer: moments and step count. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  step: number;
}

/**
 * Adam over a contiguous range of a flat parameter vector, as PyTorch computes it:
 * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * A plain loop over Float32Arrays: on a CPU this is faster than a tfjs optimizer's dozen kernel
 * launches per variable, and its state is two arrays that checkpoint as they are.
 */
export class FlatAdam {
  readonly state: AdamState;
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly clipNorm: number | undefined;

  constructor(size: number, options: AdamOptions) {
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    if (options.clipNorm !== undefined && !(options.clipNorm > 0)) throw new RangeError(`clipNorm must be a positive number, got ${options.clipNorm}`);
    this.clipNorm = options.clipNorm;
    this.state = { m: new Float32Array(size), v: new Float32Array(size), step: 0 };
  }

  /**
   * One update of `params` (the group's range) with gradient `grads` (same length). Returns the
   * gradient's L2 norm before clipping.
   */
  update(params: Float32Array, grads: Float32Array): number {
    const { m, v } = this.state;
    if (params.length !== m.length || grads.length !== m.length) throw new RangeError(`Adam over ${m.length} values got ${params.length} parameters and ${grads.length} gradients`);
    const norm = l2Norm(grads);
    // PyTorch: scale = max_norm / (norm + 1e-6), applied only when it is below 1
    const scale = this.clipNorm !== undefined && norm > this.clipNorm ? this.clipNorm / (norm + 1e-6) : 1;
    const t = ++this.state.step;
    const { beta1: b1, beta2: b2, epsilon: eps } = this;
    const stepSize = this.learningRate / (1 - b1 ** t);
    const rootCorrection = Math.sqrt(1 - b2 ** t);
    for (let i = 0; i < params.length; i++) {
      const g = grads[i]! * scale;
      const mi = (m[i] = b1 * m[i]! + (1 - b1) * g);
      const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g);
      params[i] = params[i]! - (stepSize * mi) / (Math.sqrt(vi) / rootCorrection + eps);
    }
    return norm;
  }

  /** Restores moments and step count saved from `state`. */
  load(state: AdamState): void {
    if (state.m.length !== this.state.m.length || state.v.length !== this.state.v.length) {
      throw new RangeError(`Adam state for ${state.m.length} values does not fit ${this.state.m.length}`);
    }
    this.state.m.set(state.m);
    this.state.v.set(state.v);
    this.state.step = state.step;
  }
}

/** L2 norm of a vector, accumulated in double precision. */
function l2Norm(x: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
  return Math.sqrt(sum);
}
