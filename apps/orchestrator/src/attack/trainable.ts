import * as tf from '@tensorflow/tfjs-core';
import type { CodecForwardResult, CodecV1, ObjectiveV1, PluginRegistry, TriggerV1 } from '@lic-backdoor/core';
import type { ShardBatch, Trainable } from '@lic-backdoor/training';
import { loadRegistry } from '../plugins.js';
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

export async function createCodec(registry: PluginRegistry, config: AttackConfig): Promise<LearnedCodec> {
  return asLearned((await registry.create('codec', [config.codec.id, { weights: config.codec.weights }], { seed: config.seed })) as CodecV1, config.codec.id);
}

export async function createTriggers(registry: PluginRegistry, config: AttackConfig): Promise<{ name: string; trigger: TriggerV1 }[]> {
  const out = [];
  for (const [i, t] of config.triggers.entries()) out.push({ name: t.name, trigger: (await registry.create('trigger', t.trigger, { seed: config.seed * 1000 + i })) as TriggerV1 });
  return out;
}

/** Builds the attack (in the main thread and in every worker) from its resolved config. */
export async function createAttack(options: { config: AttackConfig; baseDir: string }): Promise<Attack> {
  const { config } = options;
  const registry = await loadRegistry(options.baseDir);
  const codec = await createCodec(registry, config);
  const original = await createCodec(registry, config);
  const triggers = await createTriggers(registry, config);
  const names = termNames(config);
  const refs = [...config.clean.map((r) => ({ r, trigger: undefined as number | undefined })), ...config.triggers.flatMap((t, i) => t.objectives.map((r) => ({ r, trigger: i })))];
  const terms: Term[] = [];
  for (const [k, { r, trigger }] of refs.entries()) {
    const objective = (await registry.create('objective', r, { seed: config.seed })) as ObjectiveV1;
    if (objective.needsTrigger && trigger === undefined) throw new Error(`${objective.id} needs a trigger: list it under a trigger's objectives, not under clean`);
    terms.push({ name: names[k]!, objective, trigger });
  }
  const wantsLatents = config.clean.some((r) => typeof r !== 'string' && Number((r[1] as { latentWeight?: number }).latentWeight ?? 0) > 0);

  const jointLoss = ({ x, seeds, sources, context }: ShardBatch) => {
    const cleanOutput = codec.forward(x, { training: true, seeds });
    // the original encoder's latents are constants of the gradient: a value copy cuts the tape
    const referenceLatents = wantsLatents ? { y: tf.tensor(original.analysis(x).dataSync(), cleanOutput.latents.y!.shape) } : undefined;
    const copies: { triggered: tf.Tensor4D; output: CodecForwardResult }[] = triggers.map(({ trigger }, i) => {
      const triggered = trigger.apply(x);
      return { triggered, output: codec.forward(triggered, { training: true, seeds: triggerSeeds(seeds, i) }) };
    });
    const metrics: Record<string, tf.Scalar> = {};
    let total: tf.Scalar = tf.scalar(0);
    for (const term of terms) {
      const copy = term.trigger === undefined ? undefined : copies[term.trigger]!;
      const r = term.objective.compute({ clean: x, cleanOutput, referenceLatents, sources, triggered: copy?.triggered, triggeredOutput: copy?.output });
      total = tf.add(total, tf.mul(r.loss, context?.[`weight.${term.name}`] ?? 1));
      metrics[term.name] = r.loss;
      metrics[`${term.name}.satisfied`] = tf.scalar(r.satisfied ? 1 : 0);
      for (const [k, v] of Object.entries(r.metrics)) metrics[`${term.name}.${k}`] = tf.scalar(v);
    }
    return { loss: total, metrics };
  };

  const encoder = codec.parameters().encoder;
  return {
    codec,
    original,
    triggers,
    terms,
    groups: { encoder: { variables: encoder }, triggers: { variables: triggers.flatMap((t) => t.trigger.variables()) } },
    jointLoss,
    dispose: () => {
      for (const t of terms) t.objective.dispose();
      for (const t of triggers) t.trigger.dispose();
      codec.dispose();
      original.dispose();
    },
  };
}

/** Entry point for the data-parallel engine's workers. */
export function createTrainable(options: unknown): Promise<Trainable> {
  return createAttack(options as { config: AttackConfig; baseDir: string });
}
