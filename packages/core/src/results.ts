import { z } from 'zod';

/** One measured quantity: its value (one per rate point for `eval`), unit and definition. */
export const resultMetric = z
  .object({
    value: z.union([z.number(), z.array(z.number())]).describe('the value; for eval, one per rate point'),
    unit: z.string().describe("'dB', 'bpp', 'x' (a ratio), 's', or '' for plain numbers"),
    definition: z.string().min(1).describe('one sentence, precise enough to recompute the value'),
  })
  .strict();

export type ResultMetric = z.infer<typeof resultMetric>;

/**
 * The shape every results.json of the toolkit shares (`eval`, `evaluate`, `evaluate-attack`,
 * `run`, `sweep`): snake_case keys; `metrics` holds every aggregate with value, unit and definition;
 * `per_image` one record per image (its `image` file name first); the config and the environment
 * of the run. Commands add their own fields beside these: `eval` CompressAI's `results` (metric
 * name -> one mean per rate point) and `points`; `evaluate-attack` and `run` `clean`, `triggers`
 * and `effects` (the effect matrix); `run` `variants` and `backdoors`; `sweep` `runs` (each run's grid values, seed and
 * metrics) and `cells` (each grid point's mean and spread over seeds; `per_image` is empty: each run's
 * results.json holds its images). Published as JSON Schema
 * in docs/results.schema.json.
 */
export const resultsFile = z
  .object({
    command: z.enum(['eval', 'evaluate', 'evaluate-attack', 'run', 'sweep']).describe('the command that wrote the file'),
    name: z.string().describe('the codec, or the attack or run name'),
    description: z.string().describe('what was measured, on which images, how'),
    metrics: z.record(z.string(), resultMetric).describe('every aggregate (mean over images unless its definition says otherwise)'),
    per_image: z.array(z.object({ image: z.string() }).passthrough()).describe('one record per image'),
    wall_time_s: z.number().nonnegative().describe('wall-clock seconds of the command'),
    config: z.record(z.string(), z.unknown()).describe('the options or config of the command'),
    environment: z.object({ gitCommit: z.string(), node: z.string() }).passthrough().describe('where it ran: git commit, backend, machine, Node'),
  })
  .passthrough();

export type ResultsFile = z.infer<typeof resultsFile>;

/** The JSON Schema of `resultsFile` (docs/results.schema.json is this, written by `pnpm docs:tables`). */
export function resultsJsonSchema(): Record<string, unknown> {
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'lic-backdoor results.json', ...(z.toJSONSchema(resultsFile) as Record<string, unknown>) };
}
