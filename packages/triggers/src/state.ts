import * as tf from '@tensorflow/tfjs-core';
import type { NamedArray, TriggerV1 } from '@lic-backdoor/core';

/**
 * Loads each trigger's trained state from the tensors of an attack's triggers.safetensors, where
 * trigger `name`'s entries are stored as `<name>.<key>`; `source` names the file in errors.
 */
export function loadTriggerStates(triggers: readonly { name: string; trigger: TriggerV1 }[], tensors: Record<string, NamedArray>, source: string): void {
  for (const { name, trigger } of triggers) {
    const prefix = `${name}.`;
    const state = Object.fromEntries(
      Object.entries(tensors)
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, t]) => [k.slice(prefix.length), tf.tensor(t.data as Float32Array, t.shape)]),
    );
    try {
      trigger.loadStateDict(state);
    } catch (error) {
      throw new Error(`${source}: trigger '${name}': ${(error as Error).message}`, { cause: error });
    } finally {
      tf.dispose(Object.values(state));
    }
  }
}
