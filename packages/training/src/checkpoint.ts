import { readFile, stat } from 'node:fs/promises';
import { readSafetensors, writeFileAtomic, writeSafetensors } from '@lic-backdoor/core';
import type { TrainerState } from './data-parallel.js';

/** The records of an NDJSON file, in order; a line that does not parse (torn by a crash) is left out, a missing file has none. */
export async function readNdjson<T>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const records: T[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      // a torn last line after a crash
    }
  }
  return records;
}

/** Keeps the log lines of steps up to `step` (those a resumed run does not recompute). */
export async function trimLog(log: string, step: number): Promise<void> {
  const kept = (await readNdjson<{ step: number }>(log)).filter((r) => r.step <= step);
  await writeFileAtomic(log, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** Seconds of training a log records: the sum of its steps' `ms` (every session of a resumed run). */
export async function loggedSeconds(log: string): Promise<number> {
  return (await readNdjson<{ ms?: number }>(log)).reduce((sum, r) => sum + Number(r.ms ?? 0), 0) / 1000;
}

export function stringify(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
}

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** One atomic file: the model state dict, the flat parameters and each group's Adam state. */
export async function writeCheckpoint(file: string, state: TrainerState, model: Record<string, { shape: number[]; data: Float32Array | Int32Array }>, metadata: Record<string, string>): Promise<void> {
  const tensors: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = { ...model };
  tensors['trainer.parameters'] = { shape: [state.parameters.length], data: state.parameters };
  const steps: Record<string, string> = {};
  for (const [group, adam] of Object.entries(state.optimizers)) {
    tensors[`trainer.adam.${group}.m`] = { shape: [adam.m.length], data: adam.m };
    tensors[`trainer.adam.${group}.v`] = { shape: [adam.v.length], data: adam.v };
    steps[`adam.${group}.step`] = String(adam.step);
  }
  await writeSafetensors(file, tensors, { ...metadata, ...steps });
}

export async function readCheckpoint(file: string): Promise<{ state: TrainerState; step: number; saved: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(file);
  const parameters = tensors['trainer.parameters'];
  if (!parameters) throw new Error(`${file} is not a training checkpoint (no trainer.parameters)`);
  const optimizers: TrainerState['optimizers'] = {};
  for (const key of Object.keys(metadata).filter((k) => k.startsWith('adam.') && k.endsWith('.step'))) {
    const group = key.slice(5, -5);
    optimizers[group] = {
      m: tensors[`trainer.adam.${group}.m`]!.data as Float32Array,
      v: tensors[`trainer.adam.${group}.v`]!.data as Float32Array,
      step: Number(metadata[key]),
    };
  }
  return { state: { parameters: parameters.data as Float32Array, optimizers }, step: Number(metadata.step), saved: metadata };
}
