import * as tf from '@tensorflow/tfjs-core';
import { readFloat32 } from '@lic-backdoor/core';
import type { LossOutput, ShardBatch, Trainable, TrainableFactory, TrainableSpec } from './trainable.js';

/** Where one variable lives in the flat shared buffers. */
export interface SlotLayout {
  group: string;
  index: number;
  shape: number[];
  offset: number;
  size: number;
}

/** Flat layout of every variable, groups in name order, variables in group order. */
export function layoutOf(trainable: Trainable): { entries: SlotLayout[]; total: number } {
  const entries: SlotLayout[] = [];
  let offset = 0;
  for (const group of Object.keys(trainable.groups).sort()) {
    trainable.groups[group]!.variables.forEach((v, index) => {
      entries.push({ group, index, shape: v.shape, offset, size: v.size });
      offset += v.size;
    });
  }
  return { entries, total: offset };
}

/** Imports a trainable module and builds the trainable it exports. */
export async function loadTrainable(spec: TrainableSpec, importer: (s: string) => Promise<unknown> = (s) => import(s)): Promise<Trainable> {
  const mod = (await importer(spec.module)) as Record<string, unknown>;
  const name = spec.exportName ?? 'createTrainable';
  const factory = (mod[name] ?? (mod.default as Record<string, unknown> | undefined)?.[name]) as TrainableFactory | undefined;
  if (typeof factory !== 'function') throw new Error(`Trainable module '${spec.module}' has no exported function '${name}'`);
  return factory(spec.options);
}

/** Copies the parameters in `params` into the trainable's variables. */
export function loadParameters(trainable: Trainable, entries: readonly SlotLayout[], params: Float32Array): void {
  for (const e of entries) {
    const v = trainable.groups[e.group]!.variables[e.index]!;
    tf.tidy(() => v.assign(tf.tensor(params.subarray(e.offset, e.offset + e.size), e.shape)));
  }
}

/** Copies the trainable's variables into `params`. */
export function storeParameters(trainable: Trainable, entries: readonly SlotLayout[], params: Float32Array): void {
  for (const e of entries) params.set(trainable.groups[e.group]!.variables[e.index]!.dataSync() as Float32Array, e.offset);
}

/** Losses and metrics of one shard, already multiplied by the shard's weight. */
export interface ShardResult {
  losses: Record<string, number>;
  metrics: Record<string, number>;
  /**
   * The shard's weight for each metric it reports: a metric only some shards report (an objective
   * scoring one data source, e.g. faces) is then averaged over those shards, not diluted by the others.
   */
  metricWeights?: Record<string, number>;
  /** Milliseconds the shard took (parameter load, forward, backward, gradient copy). */
  computeMs?: number;
}

/**
 * Computes every group's loss on one shard and writes weight x gradient into `grads` at the
 * layout's offsets.
 */
export function computeShard(trainable: Trainable, entries: readonly SlotLayout[], shard: ShardBatch, weight: number, grads: Float32Array): ShardResult {
  const constants = trainable.constants ? tf.tidy(() => trainable.constants!(shard)) : undefined;
  try {
    return computePasses(trainable, entries, constants ? { ...shard, constants } : shard, weight, grads);
  } finally {
    if (constants) tf.dispose(Object.values(constants));
  }
}

function computePasses(trainable: Trainable, entries: readonly SlotLayout[], batch: ShardBatch, weight: number, grads: Float32Array): ShardResult {
  const result: ShardResult = { losses: {}, metrics: {}, metricWeights: {} };
  const groups = Object.keys(trainable.groups).sort();
  const passes: { name: string; members: string[]; loss: (b: ShardBatch) => LossOutput }[] = [];
  for (const group of groups) {
    const own = trainable.groups[group]!.loss;
    if (own) passes.push({ name: group, members: [group], loss: own });
  }
  const joint = groups.filter((g) => !trainable.groups[g]!.loss);
  if (joint.length) {
    if (!trainable.jointLoss) throw new Error(`groups ${joint.join(', ')} have no loss and the trainable has no jointLoss`);
    passes.push({ name: 'joint', members: joint, loss: (b) => trainable.jointLoss!(b) });
  }
  for (const { name, members, loss } of passes) {
    const variables = members.flatMap((g) => trainable.groups[g]!.variables);
    const metrics: Record<string, tf.Scalar> = {};
    const { value, grads: g } = tf.variableGrads(() => {
      const out = loss(batch);
      if (out instanceof tf.Tensor) return out;
      for (const [k, m] of Object.entries(out.metrics ?? {})) metrics[k] = tf.keep(m);
      return out.loss;
    }, variables);
    result.losses[name] = value.dataSync()[0]! * weight;
    for (const [k, m] of Object.entries(metrics)) {
      result.metrics[`${name}.${k}`] = m.dataSync()[0]! * weight;
      result.metricWeights![`${name}.${k}`] = weight;
    }
    for (const e of entries) {
      if (!members.includes(e.group)) continue;
      const v = trainable.groups[e.group]!.variables[e.index]!;
      const gv = g[v.name];
      const target = grads.subarray(e.offset, e.offset + e.size);
      if (!gv) {
        target.fill(0);
        continue;
      }
      const data = readFloat32(gv);
      for (let i = 0; i < e.size; i++) target[i] = data[i]! * weight;
    }
    tf.dispose([value, ...Object.values(g), ...Object.values(metrics)]);
  }
  return result;
}
