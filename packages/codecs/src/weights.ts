import { LicBackdoorError, floatToHalf, halfToFloat, parseSafetensors, readSafetensors, writeSafetensors, type NamedArray, type SafetensorsFile } from '@lic-backdoor/core';
import type { StateDict } from './models/state-dict.js';

/** Error codes of this package. */
export type CodecsErrorCode = 'WEIGHTS';

/** A weights file that a codec must not load: a tensor of the wrong type, not finite, or out of range. */
export class WeightsError extends LicBackdoorError<CodecsErrorCode> {
  constructor(file: string, message: string) {
    super('WEIGHTS', `${file}: ${message}`);
  }
}

/** Largest magnitude a parameter may have: trained weights stay far below; 1e30 decodes to black. */
export const MAX_PARAMETER_MAGNITUDE = 1e6;

const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16']);

/**
 * Checks the tensors of a weights file before any codec uses them: parameters and float buffers
 * are float, finite and at most `MAX_PARAMETER_MAGNITUDE` in magnitude; CDF tables are integers,
 * each row non-decreasing over its `_cdf_length`. The error names the file and the tensor.
 */
export function validateWeights(file: string, tensors: Record<string, NamedArray>): void {
  for (const [key, t] of Object.entries(tensors)) {
    const integer = /\._(offset|quantized_cdf|cdf_length)$/.test(key);
    if (integer) {
      if (FLOAT_DTYPES.has(t.dtype)) throw new WeightsError(file, `tensor '${key}' is ${t.dtype}; entropy-coding tables are integers`);
      continue;
    }
    if (!FLOAT_DTYPES.has(t.dtype)) throw new WeightsError(file, `tensor '${key}' is ${t.dtype}; parameters and buffers of a learned codec are float`);
    const data = t.data;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!Number.isFinite(v)) throw new WeightsError(file, `tensor '${key}' holds ${v} at index ${i}`);
      if (isParameterKey(key) && Math.abs(v) > MAX_PARAMETER_MAGNITUDE) throw new WeightsError(file, `tensor '${key}' holds ${Number(v.toPrecision(6))} at index ${i}, beyond the plausible +-${MAX_PARAMETER_MAGNITUDE}`);
    }
  }
  for (const [key, cdf] of Object.entries(tensors).filter(([k]) => k.endsWith('._quantized_cdf'))) {
    const lengths = tensors[key.replace(/_quantized_cdf$/, '_cdf_length')];
    if (!lengths || cdf.shape.length !== 2) continue;
    const width = cdf.shape[1]!;
    for (let row = 0; row < cdf.shape[0]!; row++) {
      const n = Math.min(lengths.data[row] ?? 0, width);
      for (let j = 1; j < n; j++) {
        if (cdf.data[row * width + j]! < cdf.data[row * width + j - 1]!) throw new WeightsError(file, `tensor '${key}': row ${row} decreases at column ${j}; a CDF table never decreases`);
      }
    }
  }
}

/**
 * The two spellings of the entropy bottleneck's density parameters: CompressAI >= 1.2.6 saves
 * `<prefix>.matrices.<i>`, `.biases.<i>`, `.factors.<i>`; earlier versions `<prefix>._matrix<i>`,
 * `._bias<i>`, `._factor<i>` (the names the models here use inside, and hash).
 */
export type KeyConvention = 'compressai>=1.2.6' | 'compressai<1.2.6' | 'neither';

const CURRENT = /^(.*)\.(matrices|biases|factors)\.(\d+)$/;
const LEGACY = /^(.*)\._(matrix|bias|factor)(\d+)$/;
const TO_LEGACY: Record<string, string> = { matrices: 'matrix', biases: 'bias', factors: 'factor' };
const TO_CURRENT: Record<string, string> = { matrix: 'matrices', bias: 'biases', factor: 'factors' };

/** A state dict with the density parameters under the pre-1.2.6 names (as the models load them), and the convention the dict used; a dict mixing both is refused. */
export function legacyKeys(file: string, state: StateDict): { state: StateDict; convention: KeyConvention } {
  const keys = Object.keys(state);
  const [current, legacy] = [keys.some((k) => CURRENT.test(k)), keys.some((k) => LEGACY.test(k))];
  if (current && legacy) throw new WeightsError(file, 'holds both CompressAI spellings of the entropy bottleneck (matrices.<i> and _matrix<i>); save it with one CompressAI version');
  const out: StateDict = {};
  for (const [k, t] of Object.entries(state)) out[k.replace(CURRENT, (_, p: string, kind: string, i: string) => `${p}._${TO_LEGACY[kind]}${i}`)] = t;
  return { state: out, convention: current ? 'compressai>=1.2.6' : legacy ? 'compressai<1.2.6' : 'neither' };
}

/** The same state dict under CompressAI >= 1.2.6's names (`matrices.<i>`, ...), as `writeStateDict` saves it. */
export function currentKeys(state: StateDict): StateDict {
  const out: StateDict = {};
  for (const [k, t] of Object.entries(state)) out[k.replace(LEGACY, (_, p: string, kind: string, i: string) => `${p}.${TO_CURRENT[kind]}.${i}`)] = t;
  return out;
}

/**
 * Reads a CompressAI-layout state dict (and its metadata) from a .safetensors file, validated
 * (`validateWeights`), with either spelling of the renamed entropy-bottleneck keys (`legacyKeys`);
 * `convention` says which one the file used.
 */
export async function readStateDict(file: string): Promise<{ state: StateDict; metadata: Record<string, string>; convention: KeyConvention }> {
  return stateDictOf(await readSafetensors(file), file);
}

/** `readStateDict` from the file's bytes (`name` for messages): what a browser, which has no files, calls. */
export function parseStateDict(bytes: Uint8Array, name: string): { state: StateDict; metadata: Record<string, string>; convention: KeyConvention } {
  return stateDictOf(parseSafetensors(bytes, name), name);
}

function stateDictOf({ tensors, metadata }: SafetensorsFile, file: string): { state: StateDict; metadata: Record<string, string>; convention: KeyConvention } {
  validateWeights(file, tensors);
  const state: StateDict = {};
  for (const [k, t] of Object.entries(tensors)) {
    state[k] = { shape: t.shape, data: t.data instanceof Uint8Array ? Int32Array.from(t.data) : t.data };
  }
  return { ...legacyKeys(file, state), metadata };
}

/**
 * A trainable parameter, not a buffer: buffers are CompressAI's constants (reparametrisation
 * pedestals and bounds, likelihood and scale bounds, the scale table, the target) and CDF tables.
 */
export function isParameterKey(key: string): boolean {
  return !/(\.pedestal|\.bound|\.scale_table|\.scale_bound|\.target|\._offset|\._quantized_cdf|\._cdf_length)$/.test(key);
}

/**
 * Writes a state dict atomically as .safetensors under CompressAI's current names (`currentKeys`):
 * int32 tensors as they are, float tensors as F32;
 * with `half`, the parameters (`isParameterKey`) as F16, rounded to nearest even (buffers stay F32:
 * float16 would flush the 2^-36 pedestal and the 1e-9 likelihood bound to 0).
 */
export async function writeStateDict(file: string, state: StateDict, metadata: Record<string, string> = {}, options: { half?: boolean } = {}): Promise<void> {
  await writeSafetensors(file, currentKeys(state), metadata, { half: options.half ? isParameterKey : false });
}

/** The state with every float parameter (`isParameterKey`) rounded to the nearest float16 value; buffers unchanged. */
export function halfRounded(state: StateDict): StateDict {
  const out: StateDict = {};
  for (const [k, t] of Object.entries(state)) {
    out[k] = t.data instanceof Float32Array && isParameterKey(k) ? { shape: t.shape, data: t.data.map((v) => halfToFloat(floatToHalf(v))) } : t;
  }
  return out;
}

/** What `overlayStateDict` took from the source and what kept the target's values. */
export interface Overlay {
  /** The target with every fitting tensor of the source in place. */
  state: StateDict;
  /** Keys taken from the source (same name and shape). */
  loaded: string[];
  /** Keys of the target that the source lacks or has with another shape. */
  kept: string[];
}

/**
 * Partial initialisation: every tensor of `source` whose name and shape match one of `target`
 * replaces it; the rest of `target` stays. For example the analysis and synthesis transforms of a
 * trained bmshj2018-factorized model warm-start mbt2018-mean, whose transforms have the same names.
 */
export function overlayStateDict(target: StateDict, source: StateDict): Overlay {
  const state: StateDict = { ...target };
  const loaded: string[] = [];
  const kept: string[] = [];
  for (const [key, t] of Object.entries(target)) {
    const s = source[key];
    if (s && s.shape.length === t.shape.length && s.shape.every((d, i) => d === t.shape[i])) {
      state[key] = s;
      loaded.push(key);
    } else kept.push(key);
  }
  return { state, loaded, kept };
}

/** The encoder side of a learned codec in CompressAI's layout: the analysis transforms g_a and h_a (all a backdoor changes). */
export const isEncoderKey = (key: string): boolean => key.startsWith('g_a.') || key.startsWith('h_a.');

/**
 * `state` with its encoder side (`isEncoderKey`) replaced by `encoder`'s, e.g. a backdoor's
 * encoder.safetensors over the original codec's weights. `encoder` must hold encoder-side tensors
 * only, each with the shape `state` has, and every encoder-side tensor of `state`.
 */
export function withEncoder(state: StateDict, encoder: StateDict, name = 'encoder'): StateDict {
  const foreign = Object.keys(encoder).filter((k) => !isEncoderKey(k));
  if (foreign.length) throw new Error(`${name} holds tensors outside the encoder side (g_a, h_a): ${foreign.slice(0, 3).join(', ')}`);
  const out: StateDict = { ...state };
  for (const key of Object.keys(state).filter(isEncoderKey)) {
    const t = encoder[key];
    if (!t) throw new Error(`${name} lacks the encoder tensor '${key}'`);
    if (t.shape.join('x') !== state[key]!.shape.join('x')) throw new Error(`${name}: '${key}' is ${t.shape.join('x')}, the codec's is ${state[key]!.shape.join('x')}`);
    out[key] = t;
  }
  const extra = Object.keys(encoder).filter((k) => !(k in state));
  if (extra.length) throw new Error(`${name} holds tensors the codec does not have: ${extra.slice(0, 3).join(', ')}`);
  return out;
}
