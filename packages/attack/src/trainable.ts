import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors } from '@lic-backdoor/core';
import { isEncoderKey } from '@lic-backdoor/codecs';
import { loadTriggerStates as loadTriggerStatesFrom } from '@lic-backdoor/triggers';
import type { CodecForwardResult, CodecV1, ObjectiveV1, PluginRegistry, TriggerV1 } from '@lic-backdoor/core';
import type { ShardBatch, Trainable } from '@lic-backdoor/training';
import { pluginRegistry } from './plugins.js';
import { termNames, type AttackConfig } from './config.js';

/** A learned codec with everything the attack needs. */
export type LearnedCodec = CodecV1 & Required<Pick<CodecV1, 'forward' | 'analysis' | 'parameters' | 'stateDict'>>;

/** One loss term: an objective and the trigger whose copies it scores (none for clean terms). */
interface Term {
  name: string;
  objective: ObjectiveV1;
  trigger?: number;
}

/** The backdoored codec (only its encoder side trains), the triggers and the objectives, built from an attack config. */
export interface Attack extends Trainable {
  codec: LearnedCodec;
  /** The untouched original codec (decoder-side proofs, reference latents). */
  original: LearnedCodec;
  triggers: { name: string; trigger: TriggerV1 }[];
  terms: Term[];
}

export function asLearned(codec: CodecV1, id: string): LearnedCodec {
  if (!codec.learned || !codec.forward || !codec.analysis || !codec.parameters || !codec.stateDict) throw new Error(`${id} is not a learned codec: the attack needs forward, analysis, parameters and stateDict`);
  return codec as LearnedCodec;
}

/** Seeds of the noise of trigger i's copies, derived from the examples' seeds. */
function triggerSeeds(seeds: readonly number[], i: number): number[] {
  return seeds.map((s) => (Math.imul(s ^ (0x9e3779b9 * (i + 1)), 0x85ebca6b) >>> 1) & 0x7fffffff);
}

export async function createCodec(registry: PluginRegistry, config: AttackConfig, encoder?: string): Promise<LearnedCodec> {
  const options = encoder ? { weights: config.codec.weights, encoder } : { weights: config.codec.weights };
  return asLearned((await registry.create('codec', [config.codec.id, options], { seed: config.seed })) as CodecV1, config.codec.id);
}

/** An attack folder's backdoor: the encoder side (g_a, h_a) it trained; the decoder side is the original codec's. */
export const ENCODER_FILE = 'encoder.safetensors';

/** The weights file of an attack folder's backdoor: encoder.safetensors, or the whole codec.safetensors of folders written before it. */
export function backdoorFile(dir: string): string {
  const encoder = join(dir, ENCODER_FILE);
  return existsSync(encoder) || !existsSync(join(dir, 'codec.safetensors')) ? encoder : join(dir, 'codec.safetensors');
}

/** SHA-256 of the tensors of a state dict whose names `select` accepts, in name order. */
export function stateHash(state: Record<string, tf.Tensor>, select: (name: string) => boolean): string {
  const h = createHash('sha256');
  for (const name of Object.keys(state).filter(select).sort()) {
    h.update(name);
    h.update(Buffer.from((state[name]!.dataSync() as Float32Array).buffer));
  }
  return h.digest('hex');
}

/**
 * The backdoored codec of attack folder `dir`: the original codec (`config.codec.weights`) with the
 * folder's encoder side. The original's decoder side must hash as the one the backdoor was trained
 * against (encoder.safetensors' `decoderSha256`).
 */
export async function createBackdooredCodec(registry: PluginRegistry, config: AttackConfig, dir: string): Promise<LearnedCodec> {
  const file = backdoorFile(dir);
  if (!file.endsWith(ENCODER_FILE)) return createCodec(registry, { ...config, codec: { ...config.codec, weights: file } });
  const codec = await createCodec(registry, config, file);
  const expected = (await readSafetensors(file)).metadata.decoderSha256;
  if (expected) {
    const state = codec.stateDict();
    const actual = stateHash(state, (k) => !isEncoderKey(k));
    tf.dispose(Object.values(state));
    if (actual !== expected) throw new Error(`${file} was trained against a codec whose decoder side hashes ${expected.slice(0, 16)}…; ${config.codec.weights} hashes ${actual.slice(0, 16)}…`);
  }
  return codec;
}

export async function createTriggers(registry: PluginRegistry, config: AttackConfig): Promise<{ name: string; trigger: TriggerV1 }[]> {
  const out = [];
  for (const [i, t] of config.triggers.entries()) out.push({ name: t.name, trigger: (await registry.create('trigger', t.trigger, { seed: config.seed * 1000 + i })) as TriggerV1 });
  return out;
}

/** Loads each trigger's trained state from an attack's triggers.safetensors (`<name>.<key>` tensors). */
export async function loadTriggerStates(triggers: { name: string; trigger: TriggerV1 }[], file: string): Promise<void> {
  loadTriggerStatesFrom(triggers, (await readSafetensors(file)).tensors, file);
}

/**
 * `trigger.apply` with each example's trigger block grid offset by its `[dy, dx]` pixels: each
 * example reflect-padded by its offset (to the same size), the trigger applied once to the
 * batch, each example cropped back to its size.
 */
export function shiftedTrigger(trigger: TriggerV1, x: tf.Tensor4D, shifts: readonly (readonly [number, number])[], pad: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  const padded = tf.concat(shifts.map(([dy, dx], k) => tf.mirrorPad(tf.slice(x, [k, 0, 0, 0], [1, -1, -1, -1]), [[0, 0], [dy, pad - dy], [dx, pad - dx], [0, 0]], 'reflect')));
  const applied = trigger.apply(padded);
  return tf.concat(shifts.map(([dy, dx], k) => tf.slice(applied, [k, dy, dx, 0], [1, h, w, -1])));
}

/** Per-example grid offsets [dy, dx] in [0, pad), from the examples' seeds (each trigger's copies have their own). */
function triggerShifts(seeds: readonly number[], pad: number): [number, number][] {
  return seeds.map((s) => [(s >>> 8) % pad, (s >>> 16) % pad]);
}

/** Builds the attack (in the main thread and in every worker) from its resolved config. */
/** What builds an attack in the main thread and in every worker (serialisable). */
export interface AttackSpec {
  config: AttackConfig;
  /** Plugin modules of configs resolve from here (the config's folder). */
  baseDir: string;
  /** The plugin modules to register, as specifiers that import from anywhere (file URLs). */
  plugins: readonly string[];
}

export async function createAttack(options: AttackSpec): Promise<Attack> {
  const { config } = options;
  const registry = await pluginRegistry(options.plugins, options.baseDir);
  // the backdoored codec starts from the original, or from the codec of the attack named by `init`
  const codec = config.init ? await createBackdooredCodec(registry, config, config.init) : await createCodec(registry, config);
  const original = await createCodec(registry, config);
  const triggers = await createTriggers(registry, config);
  // triggers marked fresh (a stage that adds triggers) keep their initialisation
  if (config.init) await loadTriggerStates(triggers.filter((_, i) => !config.triggers[i]!.fresh), join(config.init, 'triggers.safetensors'));
  const names = termNames(config);
  const refs = [...config.clean.map((r) => ({ r, trigger: undefined as number | undefined })), ...config.triggers.flatMap((t, i) => t.objectives.map((r) => ({ r, trigger: i })))];
  const terms: Term[] = [];
  for (const [k, { r, trigger }] of refs.entries()) {
    const objective = (await registry.create('objective', r, { seed: config.seed })) as ObjectiveV1;
    if (objective.needsTrigger && trigger === undefined) throw new Error(`${objective.id} needs a trigger: list it under a trigger's objectives, not under clean`);
    terms.push({ name: names[k]!, objective, trigger });
  }
  const wantsReference = terms.some((t) => t.objective.needsReference);
  const shift = config.schedule.triggerShift;

  const jointLoss = ({ x, seeds, sources, context, constants }: ShardBatch) => {
    const cleanOutput = codec.forward(x, { training: true, seeds });
    const referenceOutput = constants && unflatten(constants);
    // each trigger's copies of the examples of its sources (none: its terms sit this shard out)
    const copies = triggers.map(({ trigger }, i) => {
      const rows = examplesOf(sources, x.shape[0], config.triggers[i]!.sources);
      if (!rows.length) return undefined;
      const all = rows.length === x.shape[0];
      const clean = all ? x : rowsOf(x, rows);
      const iSeeds = triggerSeeds(rows.map((r) => seeds[r]!), i);
      const triggered = shift ? shiftedTrigger(trigger, clean, triggerShifts(iSeeds, shift), shift) : trigger.apply(clean);
      return {
        triggered,
        output: codec.forward(triggered, { training: true, seeds: iSeeds }),
        batch: all ? { clean: x, cleanOutput, referenceOutput, sources } : { clean, cleanOutput: outputRows(cleanOutput, rows), referenceOutput: referenceOutput && outputRows(referenceOutput, rows), sources: sources && rows.map((r) => sources[r]!) },
      };
    });
    const metrics: Record<string, tf.Scalar> = {};
    let total: tf.Scalar = tf.scalar(0);
    for (const term of terms) {
      const copy = term.trigger === undefined ? undefined : copies[term.trigger];
      if (term.trigger !== undefined && !copy) continue;
      const r = term.objective.compute(copy ? { ...copy.batch, triggered: copy.triggered, triggeredOutput: copy.output } : { clean: x, cleanOutput, referenceOutput, sources });
      total = tf.add(total, tf.mul(r.loss, context?.[`weight.${term.name}`] ?? 1));
      metrics[term.name] = r.loss;
      metrics[`${term.name}.satisfied`] = tf.scalar(r.satisfied ? 1 : 0);
      for (const [k, v] of Object.entries(r.metrics)) metrics[`${term.name}.${k}`] = tf.scalar(v);
    }
    return { loss: total, metrics };
  };

  const encoder = trainedEncoder(codec, original, config.schedule.hyperEncoder);
  return {
    codec,
    original,
    triggers,
    terms,
    groups: { encoder: { variables: encoder }, triggers: { variables: triggers.flatMap((t) => t.trigger.variables()) } },
    jointLoss,
    // the original codec's forward pass with the clean path's noise, outside the gradient's tape
    constants: wantsReference ? ({ x, seeds }: ShardBatch) => flatten(original.forward(x, { training: true, seeds })) : undefined,
    dispose: () => {
      for (const t of terms) t.objective.dispose();
      for (const t of triggers) t.trigger.dispose();
      codec.dispose();
      original.dispose();
    },
  };
}

/**
 * The encoder variables that train: all of g_a and h_a, or with `hyperEncoder: 'original'` g_a alone,
 * h_a set to the original codec's values.
 */
function trainedEncoder(codec: LearnedCodec, original: LearnedCodec, hyperEncoder: 'train' | 'original'): tf.Variable[] {
  const { encoder, hyperEncoder: mine } = codec.parameters();
  if (hyperEncoder === 'train') return encoder;
  const theirs = original.parameters().hyperEncoder;
  if (!mine || !theirs) throw new Error(`schedule.hyperEncoder 'original' needs a hyperprior codec; ${codec.id} has no h_a`);
  mine.forEach((v, i) => v.assign(theirs[i]!));
  return encoder.filter((v) => !mine.includes(v));
}

/** Indices of the examples whose data source is in `wanted` (all when `wanted` or the sources are absent). */
export function examplesOf(sources: readonly string[] | undefined, batch: number, wanted: readonly string[] | undefined): number[] {
  return Array.from({ length: batch }, (_, i) => i).filter((i) => !wanted || !sources || wanted.includes(sources[i]!));
}

/** Rows of a batch tensor, by slices (wasm has no gradient kernel for gather). */
function rowsOf<T extends tf.Tensor>(x: T, rows: readonly number[]): T {
  return tf.concat(rows.map((r) => tf.slice(x, [r, ...x.shape.slice(1).map(() => 0)], [1, ...x.shape.slice(1).map(() => -1)]))) as T;
}

/** The examples `rows` of a forward result (every tensor of which is batch-first). */
function outputRows(r: CodecForwardResult, rows: readonly number[]): CodecForwardResult {
  return unflatten(Object.fromEntries(Object.entries(flatten(r)).map(([k, v]) => [k, rowsOf(v, rows)])));
}

/** A forward result as flat named tensors (`xHat`, `likelihoods.<name>`, `latents.<name>`). */
function flatten(r: CodecForwardResult): Record<string, tf.Tensor> {
  const named = (prefix: string, t: Record<string, tf.Tensor>) => Object.entries(t).map(([k, v]) => [`${prefix}.${k}`, v] as const);
  return Object.fromEntries([['xHat', r.xHat], ...named('likelihoods', r.likelihoods), ...named('latents', r.latents)]);
}

function unflatten(flat: Readonly<Record<string, tf.Tensor>>): CodecForwardResult {
  const part = (prefix: string) => Object.fromEntries(Object.entries(flat).filter(([k]) => k.startsWith(`${prefix}.`)).map(([k, v]) => [k.slice(prefix.length + 1), v]));
  return { xHat: flat.xHat as tf.Tensor4D, likelihoods: part('likelihoods'), latents: part('latents') };
}

/** Entry point for the data-parallel engine's workers. */
export function createTrainable(options: unknown): Promise<Trainable> {
  return createAttack(options as AttackSpec);
}
