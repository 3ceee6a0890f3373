import * as ort from 'onnxruntime-node';

/** An onnxruntime-node inference session on the CPU execution provider. */
export interface OnnxSession {
  /** The execution provider used, recorded in results. */
  readonly executionProvider: 'cpu';
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model on float32 (or float64) inputs; returns every output's data and dims (float32 unless the graph says float64). */
  run<T extends Float32Array | Float64Array = Float32Array>(inputs: Record<string, { data: Float32Array | Float64Array; dims: number[] }>): Promise<Record<string, { data: T; dims: number[] }>>;
  release(): Promise<void>;
}

/** A session from a model file or its bytes (`threads` 0: one per core). */
export async function createSession(model: string | Uint8Array, options: { threads?: number; optimization?: 'all' | 'disabled'; memoryArena?: boolean } = {}): Promise<OnnxSession> {
  const session = await ort.InferenceSession.create(model as string, {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.threads ?? 0,
    // without the arena, a session returns its intermediate tensors after each run instead of keeping its peak
    enableCpuMemArena: options.memoryArena ?? true,
    // 'disabled' for graphs that must run exactly as written (the integer synthesis)
    graphOptimizationLevel: options.optimization ?? 'all',
  });
  return {
    executionProvider: 'cpu',
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: async <T extends Float32Array | Float64Array>(inputs: Record<string, { data: Float32Array | Float64Array; dims: number[] }>) => {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, { data, dims }] of Object.entries(inputs)) feeds[name] = data instanceof Float64Array ? new ort.Tensor('float64', data, dims) : new ort.Tensor('float32', data, dims);
      const results = await session.run(feeds);
      const out: Record<string, { data: T; dims: number[] }> = {};
      for (const [name, t] of Object.entries(results)) out[name] = { data: t.data as T, dims: [...t.dims] };
      return out;
    },
    release: () => session.release(),
  };
}

/** NHWC [N, H, W, C] -> NCHW [N, C, H, W] with `(v * scale - mean) / std` applied per element. */
export function nhwcToNchw(data: Float32Array, dims: [number, number, number, number], transform: (v: number) => number = (v) => v): Float32Array {
  const [n, h, w, c] = dims;
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = transform(data[((b * h + y) * w + x) * c + k]!);
  return out;
}
