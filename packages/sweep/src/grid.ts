import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * A sweep config: a run config (`lic-backdoor run`) and, for any of its keys, a list of values; the
 * grid is every combination of them, each run once per seed.
 */
export const sweepConfig = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/, 'lower case, digits and -'),
    run: z.string().describe('the run config every job starts from (relative to this file; its relative paths keep their meaning)'),
    grid: z
      .record(z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'a dot path such as attack.schedule.steps (array items by index: attack.triggers.0.name)'), z.array(z.unknown()).min(1))
      .default({})
      .describe('config key (dot path) -> the values it takes'),
    seeds: z.array(z.number().int()).min(1).default([1]).describe("each grid point runs once per seed (the run config's seed)"),
    slots: z.number().int().positive().default(1).describe('local processes side by side (without --queue)'),
    shards: z.number().int().positive().default(1).describe("split each run's evaluation into this many jobs by image (evaluate-attack --shard)"),
    reports: z.boolean().default(true).describe("each run's own report.html (the sweep writes its own either way)"),
  })
  .strict();

export type SweepConfig = z.infer<typeof sweepConfig>;

/** One grid point and seed: a run. */
export interface GridRun {
  /** Stable id from the values and the seed: a readable slug and a hash (a folder name, a queue job id). */
  id: string;
  /** The grid's values at this point, by key. */
  params: Record<string, unknown>;
  seed: number;
  /** The run config: the base config with the values set, `seed` and a `name` of its own. */
  config: Record<string, unknown>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A copy of `config` with `value` at the dot path `key` (numbers index arrays); every step but the last must exist. */
export function setPath(config: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const out = structuredClone(config);
  const parts = key.split('.');
  let node: unknown = out;
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    if (Array.isArray(node)) {
      const index = Number(part);
      if (!Number.isInteger(index) || index < 0 || index >= node.length) throw new Error(`grid key ${key}: ${parts.slice(0, i).join('.')} has no item ${part}`);
      if (last) node[index] = value;
      else node = node[index];
    } else if (isRecord(node)) {
      if (last) node[part] = value;
      else {
        if (node[part] === undefined) node[part] = {};
        node = node[part];
      }
    } else {
      throw new Error(`grid key ${key}: ${parts.slice(0, i).join('.')} is not an object or a list`);
    }
  });
  return out;
}

function slug(params: Record<string, unknown>, seed: number): string {
  const parts = Object.entries(params).map(([k, v]) => `${k.split('.').at(-1)}-${typeof v === 'object' ? 'x' : String(v)}`);
  return [...parts, `seed-${seed}`]
    .join('_')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '')
    .slice(0, 80);
}

/** The runs of a sweep: every combination of the grid's values (keys in the config's order), for each seed. */
export function expandGrid(sweep: SweepConfig, base: Record<string, unknown>): GridRun[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(sweep.grid)) points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  return points.flatMap((params) =>
    sweep.seeds.map((seed) => {
      const hash = createHash('sha256').update(JSON.stringify({ params, seed })).digest('hex').slice(0, 8);
      let config = base;
      for (const [key, value] of Object.entries(params)) config = setPath(config, key, value);
      config = { ...config, seed, name: `${sweep.name}-${hash}` };
      return { id: `${slug(params, seed)}-${hash}`, params, seed, config };
    }),
  );
}
