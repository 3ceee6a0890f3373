import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PluginRegistry, initializeBackend, readImage, tensorToRgb, type CodecV1 } from '@lic-backdoor/core';
import { HyperpriorCodec, register } from '@lic-backdoor/codecs';
import { readBitstream } from '@lic-backdoor/entropy';
import { ortCodec } from '@lic-backdoor/onnx';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');

/** The learned codecs this benchmark times by default: id and committed weights. */
export const DEFAULT_CODECS: Record<string, { id: string; weights: string }> = {
  mbt: { id: 'mbt2018-mean', weights: join(root, 'models', 'training', 'mbt-n128-l0013', 'model.safetensors') },
  factorized: { id: 'bmshj2018-factorized', weights: join(root, 'models', 'training', 'factorized-n128-l0013', 'model.safetensors') },
};

/** One codec in one runtime, timed in its own process. */
export interface CodecTiming {
  codec: string;
  runtime: 'onnx' | 'tfjs';
  /** Median wall time of compress (analysis + entropy coding to bytes), ms. */
  encode_ms: number;
  /** Median wall time of decompress (entropy decoding + synthesis, to the cropped image), ms. */
  decode_ms: number;
  encode_runs_ms: number[];
  decode_runs_ms: number[];
  /** Codec creation (weights, graphs, sessions), ms. */
  setup_ms: number;
  bytes: number;
  /** sha256 of the 8-bit image this runtime decodes from the shared stream (the first runtime's), equal across runtimes when the decoders agree. */
  decoded_sha256: string;
  /** Against the shared stream: whether this runtime wrote the same bytes, and (hyperprior codecs) how many y and z symbols differ. */
  same_bytes: boolean;
  differing_symbols?: number;
  /** Peak resident set of the process, MB. */
  peak_rss_mb: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** Times one codec in one runtime on one image (run in a child process by `benchCodec`). */
export async function timeCodec(o: { codec: string; weights: string; runtime: 'onnx' | 'tfjs'; image: string; reps: number; stream: string }): Promise<CodecTiming> {
  await initializeBackend({});
  const t0 = performance.now();
  const registry = new PluginRegistry();
  register(registry);
  const base = (await registry.create('codec', [o.codec, { weights: o.weights }])) as CodecV1;
  const codec = o.runtime === 'onnx' ? await ortCodec(base) : base;
  const setup = performance.now() - t0;
  const x = await readImage(o.image);
  const [enc, dec] = [[] as number[], [] as number[]];
  let bytes: Uint8Array = new Uint8Array();
  // one untimed warm-up pass, then the timed repetitions
  for (let r = 0; r <= o.reps; r++) {
    let t = performance.now();
    bytes = (await codec.compress(x)).bytes;
    if (r) enc.push(performance.now() - t);
    t = performance.now();
    tf.dispose(await codec.decompress(bytes));
    if (r) dec.push(performance.now() - t);
  }
  if (!existsSync(o.stream)) writeFileSync(o.stream, bytes);
  const shared = new Uint8Array(readFileSync(o.stream));
  const decoded = await tensorToRgb(await codec.decompress(shared));
  let differing: number | undefined;
  if (base instanceof HyperpriorCodec) {
    const [a, b] = [await base.decodeLatents(readBitstream(shared)), await base.decodeLatents(readBitstream(bytes))];
    differing = 0;
    for (const k of ['yHat', 'zHat'] as const) a[k].forEach((v, i) => (differing! += v === b[k][i] ? 0 : 1));
  }
  codec.dispose();
  return {
    codec: o.codec,
    runtime: o.runtime,
    encode_ms: median(enc),
    decode_ms: median(dec),
    encode_runs_ms: enc.map(Math.round),
    decode_runs_ms: dec.map(Math.round),
    setup_ms: Math.round(setup),
    bytes: bytes.length,
    decoded_sha256: createHash('sha256').update(decoded.data).digest('hex'),
    same_bytes: Buffer.from(shared).equals(Buffer.from(bytes)),
    ...(differing !== undefined ? { differing_symbols: differing } : {}),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/**
 * The PyTorch float forward of each codec's architecture (no entropy coding): mbt2018-mean from
 * `../shared/reference/torch_mbt_forward.py`, bmshj2018-factorized from our `apps/bench/torch/factorized_forward.py`.
 */
const TORCH_REFERENCES: Record<string, string> = {
  'mbt2018-mean': resolve(root, '..', 'shared', 'reference', 'torch_mbt_forward.py'),
  'bmshj2018-factorized': resolve(root, 'apps', 'bench', 'torch', 'factorized_forward.py'),
};

/** A PyTorch reference on the same image size, when Debian's python3-torch is there. */
function torchReference(script: string, height: number, width: number, reps: number, log: (line: string) => void): { encode_ms: number; decode_ms: number; line: string } | undefined {
  const python = '/usr/bin/python3';
  if (!existsSync(script) || !existsSync(python)) return undefined;
  const r = spawnSync(python, [script, String(height), String(width), String(reps)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(availableParallelism()) } });
  const m = /encode (\d+) ms, decode (\d+) ms/.exec(r.stdout ?? '');
  if (!m) {
    log(`PyTorch reference skipped: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}`);
    return undefined;
  }
  return { encode_ms: Number(m[1]), decode_ms: Number(m[2]), line: r.stdout.trim() };
}

export interface CodecBenchResult {
  name: 'codec';
  image: string;
  height: number;
  width: number;
  reps: number;
  timings: CodecTiming[];
  /** PyTorch float forward of each codec's architecture at N=128 (no entropy coding), same size, same run, by codec. */
  torch: Record<string, { encode_ms: number; decode_ms: number; line: string }>;
  /** ours / PyTorch per codec and runtime. */
  ratios: { codec: string; runtime: string; encode: number; decode: number }[];
  /** Whether every runtime's decode of the same codec gave the same 8-bit image. */
  identical_across_runtimes: Record<string, boolean>;
}

/**
 * `pnpm bench codec`: each codec in each runtime on one image, each in its own process (median of
 * `reps` after a warm-up; peak RSS of that process), and the PyTorch reference in the same run.
 */
export async function benchCodec(o: { codecs: string[]; runtimes: ('onnx' | 'tfjs')[]; image: string; reps: number }, log: (line: string) => void): Promise<CodecBenchResult> {
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const x = await (async () => {
    await initializeBackend({});
    const t = await readImage(o.image);
    const shape = t.shape;
    t.dispose();
    return shape;
  })();
  const [, height, width] = x;
  const timings: CodecTiming[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'bench-codec-'));
  for (const name of o.codecs) {
    const c = DEFAULT_CODECS[name];
    if (!c) throw new Error(`unknown codec '${name}': ${Object.keys(DEFAULT_CODECS).join(', ')}`);
    for (const runtime of o.runtimes) {
      const r = spawnSync(process.execPath, ['--single-threaded-gc', cli, 'codec-one', '--codec', c.id, '--weights', c.weights, '--runtime', runtime, '--image', o.image, '--reps', String(o.reps), '--stream', join(dir, `${name}.lic`)], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(`${c.id} (${runtime}) failed: ${r.stderr}`);
      const t = JSON.parse(r.stdout.trim().split('\n').pop()!) as CodecTiming;
      log(`${c.id} ${runtime}: encode ${t.encode_ms.toFixed(0)} ms, decode ${t.decode_ms.toFixed(0)} ms (median of ${o.reps}), setup ${t.setup_ms} ms, peak RSS ${t.peak_rss_mb} MB; shared stream: same bytes ${t.same_bytes}${t.differing_symbols !== undefined ? `, ${t.differing_symbols} symbols differ` : ''}`);
      timings.push(t);
    }
  }
  const torch: CodecBenchResult['torch'] = {};
  for (const id of new Set(timings.map((t) => t.codec))) {
    const reference = TORCH_REFERENCES[id] && torchReference(TORCH_REFERENCES[id], height, width, o.reps, log);
    if (reference) torch[id] = reference;
    if (reference) log(`PyTorch reference: ${reference.line}`);
  }
  const ratios = timings.filter((t) => torch[t.codec]).map((t) => ({ codec: t.codec, runtime: t.runtime, encode: t.encode_ms / torch[t.codec]!.encode_ms, decode: t.decode_ms / torch[t.codec]!.decode_ms }));
  for (const r of ratios) log(`${r.codec} ${r.runtime} / PyTorch: encode ${r.encode.toFixed(2)}x, decode ${r.decode.toFixed(2)}x`);
  const identical = Object.fromEntries(o.codecs.map((n) => DEFAULT_CODECS[n]!.id).map((id) => [id, new Set(timings.filter((t) => t.codec === id).map((t) => t.decoded_sha256)).size === 1]));
  return { name: 'codec', image: o.image, height, width, reps: o.reps, timings, torch, ratios, identical_across_runtimes: identical };
}
