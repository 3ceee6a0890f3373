import { readSafetensors, writeSafetensors } from '@lic-backdoor/core';
import type { StateDict } from './models/state-dict.js';

/** Reads a CompressAI-layout state dict (and its metadata) from a .safetensors file. */
export async function readStateDict(file: string): Promise<{ state: StateDict; metadata: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(file);
  const state: StateDict = {};
  for (const [k, t] of Object.entries(tensors)) {
    state[k] = { shape: t.shape, data: t.data instanceof Uint8Array ? Int32Array.from(t.data) : t.data };
  }
  return { state, metadata };
}

/** Writes a state dict atomically as .safetensors (float32 and int32 tensors as they are). */
export async function writeStateDict(file: string, state: StateDict, metadata: Record<string, string> = {}): Promise<void> {
  await writeSafetensors(file, state, metadata);
}
