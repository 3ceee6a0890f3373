import type { ResultMetric } from '@lic-backdoor/core';
import type { GridRun } from './grid.js';

/** One run's figures in a sweep: its grid values, seed and every metric of its results.json. */
export interface SweepRunRecord {
  id: string;
  params: Record<string, unknown>;
  seed: number;
  metrics: Record<string, number>;
}

/** One grid point over its seeds: mean and sample standard deviation of each metric. */
export interface SweepCell {
  params: Record<string, unknown>;
  seeds: number[];
  mean: Record<string, number>;
  std: Record<string, number>;
}

/** A grid point's label, e.g. `steps=2, width=4` (the last part of each key). */
export function cellLabel(params: Record<string, unknown>): string {
  return Object.entries(params).map(([k, v]) => `${k.split('.').at(-1)}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(', ') || 'all';
}

/**
 * The sweep's table from each run's results.json `metrics`: per run, every numeric metric except
 * timings (unit `s`, which depend on the machine); per grid point, their mean and spread over the
 * seeds; and the sweep's `metrics` (the grid points' means, keyed `<point> / <metric>`, each with
 * its run metric's unit and definition).
 */
export function aggregateRuns(runs: { run: GridRun; metrics: Record<string, ResultMetric> }[]): { records: SweepRunRecord[]; cells: SweepCell[]; metrics: Record<string, ResultMetric> } {
  const records = runs.map(({ run, metrics }) => ({
    id: run.id,
    params: run.params,
    seed: run.seed,
    metrics: Object.fromEntries(Object.entries(metrics).filter(([, m]) => m.unit !== 's' && typeof m.value === 'number').map(([k, m]) => [k, m.value as number])),
  }));
  const groups = new Map<string, SweepRunRecord[]>();
  for (const r of records) groups.set(JSON.stringify(r.params), [...(groups.get(JSON.stringify(r.params)) ?? []), r]);
  const definitions = Object.assign({}, ...runs.map((r) => r.metrics)) as Record<string, ResultMetric>;
  const cells: SweepCell[] = [];
  const metrics: Record<string, ResultMetric> = {};
  for (const group of groups.values()) {
    const names = [...new Set(group.flatMap((r) => Object.keys(r.metrics)))];
    const mean: Record<string, number> = {};
    const std: Record<string, number> = {};
    for (const name of names) {
      const values = group.map((r) => r.metrics[name]).filter((v): v is number => v !== undefined);
      const m = values.reduce((a, b) => a + b, 0) / values.length;
      mean[name] = m;
      std[name] = values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1)) : 0;
      const def = definitions[name]!;
      metrics[`${cellLabel(group[0]!.params)} / ${name}`] = { value: m, unit: def.unit, definition: `${def.definition} Mean over seeds ${group.map((r) => r.seed).join(', ')} of the runs with ${cellLabel(group[0]!.params)}.` };
    }
    cells.push({ params: group[0]!.params, seeds: group.map((r) => r.seed), mean, std });
  }
  return { records, cells, metrics };
}
