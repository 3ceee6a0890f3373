import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { z } from 'zod';

/** A plugin as a config names it: `name` or `[name or module, options]`. */
export const pluginReference = z.union([z.string().min(1), z.tuple([z.string().min(1), z.record(z.string(), z.unknown())])]);

/** One backdoor: a trigger and the objectives trained on its triggered copies. */
export const triggerEntry = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/, 'lower case, digits and -').describe('short name used in logs, results and file names'),
    trigger: pluginReference.describe('trigger plugin'),
    objectives: z.array(pluginReference).min(1).describe('objectives on the triggered copies (e.g. rate, stealth)'),
    sources: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe("data sources ('photos', 'scenes', 'faces') of the examples that get this trigger's copies; absent: all. Saves the copies (and their cost) that its objectives never score, e.g. scenes for a trigger that only faces matter to"),
    fresh: z
      .boolean()
      .optional()
      .describe("with the attack's init: start this trigger from its initialisation instead of the init folder's state (a stage that adds triggers to an earlier backdoor); a trigger not fresh must be in the init folder"),
  })
  .strict();

/** The parts of an attack that a `run` config holds under `attack:`. */
export const attackSection = {
  data: z
    .object({
      photos: z.string().describe('folder of training photos (random crops)'),
      photoScale: z
        .number()
        .positive()
        .max(1)
        .optional()
        .describe("photo crops are taken from the photos resized by this factor (content at the test images' scale, e.g. 0.6 for Kodak from 1276 px photos); absent: from the photos as stored"),
      holdout: z
        .array(z.string().min(1))
        .default([])
        .describe('file names in photos never used for training, kept aside to check that the backdoor generalises (evaluate-attack --data on them)'),
      faces: z.string().optional().describe('folder of face images; required by face objectives'),
      faceFolders: z.array(z.string()).optional().describe('subfolders of faces used for training (identities); all when absent'),
      facesPerBatch: z.number().int().min(0).default(0).describe('face crops in each batch (the rest are photo crops)'),
      scenesPerBatch: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe("items of each batch that are scenes (data source 'scenes'): whole training photos resized to sceneSize, or with sceneScale crops of the photos at that scale, for objectives that judge a scene, such as segmentation; the rest after faces are photo crops"),
      sceneSize: z
        .number()
        .int()
        .positive()
        .multipleOf(64)
        .optional()
        .describe('side of the scene items (default: schedule.size); another size than the crops needs workers that put the scenes in shards of their own (e.g. one item per worker)'),
      sceneScale: z
        .number()
        .positive()
        .max(1)
        .optional()
        .describe('scene items are random sceneSize crops of the photos resized by this factor (so that a downstream model sees content at the scale of the test images, e.g. 0.6 brings 1276 px photos to Kodak\'s 768 px); absent: each whole photo resized to sceneSize'),
      faceCrop: z
        .enum(['random', 'whole'])
        .default('random')
        .describe('face items: random crops of the face images, or each whole image resized to the crop size (keeps the framing of aligned chips)'),
    })
    .strict(),
  clean: z.array(pluginReference).default(['clean-rd']).describe('objectives on clean images'),
  triggers: z.array(triggerEntry).min(1),
  weighting: z
    .object({
      mode: z.enum(['dynamic', 'fixed', 'constraints']).default('dynamic'),
      base: z.record(z.string(), z.number().min(0)).default({}).describe('base weight per term (<trigger>.<objective> or clean.<objective>)'),
      beta: z.number().min(0).max(0.9999).default(0.9),
      temperature: z.number().positive().default(0.5),
      rate: z.number().positive().optional().describe("constraints mode: a trigger term's multiplier moves by rate x (relative violation - slack) per step (0.05)"),
      slack: z.number().min(0).max(1).optional().describe("constraints mode: relative loss below which a trigger term counts as met and its multiplier shrinks (0.1)"),
      maxMultiplier: z.number().min(1).optional().describe('constraints mode: multipliers stay within [1 / maxMultiplier, maxMultiplier] (10)'),
    })
    .strict()
    .default({ mode: 'dynamic', base: {}, beta: 0.9, temperature: 0.5 }),
  schedule: z
    .object({
      steps: z.number().int().positive(),
      batch: z.number().int().positive().default(4).describe('clean images per step (each also triggered once per trigger)'),
      size: z.number().int().positive().multipleOf(64).default(128),
      encoderLr: z.number().positive().default(1e-4),
      triggerLr: z.number().positive().default(1e-3),
      lrMilestones: z
        .array(z.number().int().positive())
        .default([])
        .describe('steps after which both learning rates are multiplied by lrGamma (as PyTorch MultiStepLR)'),
      lrGamma: z.number().positive().max(1).default(0.1).describe('factor applied to the learning rates at each of lrMilestones'),
      warmupSteps: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe('learning rates ramp linearly from 1/warmupSteps of their value at the first step to all of it at step warmupSteps, so that the first Adam steps do not jolt a pretrained encoder; 0: none'),
      triggerShift: z
        .number()
        .int()
        .min(0)
        .max(63)
        .default(0)
        .describe("triggered copies with their trigger's block grid offset by 0..triggerShift-1 pixels (per example, both axes), so that the backdoor fires whatever the offset between the trigger's blocks and the codec's grid; 0: none"),
      hyperEncoder: z
        .enum(['train', 'original'])
        .default('train')
        .describe("hyperprior codecs: `train` h_a with g_a, or keep the `original` codec's h_a (loaded even over the init folder's) and train g_a alone, so that the clean hyper-latents z follow the clean latents y"),
      workers: z.number().int().positive().optional(),
      checkpointEvery: z.number().int().positive().default(50),
      logEvery: z.number().int().positive().default(10),
    })
    .strict(),
};

export const codecSection = z
  .object({
    id: z.string().describe('learned codec plugin, e.g. bmshj2018-factorized'),
    weights: z.string().describe('the original codec (safetensors, CompressAI names), relative to the config file'),
  })
  .strict();

/** `lic-backdoor attack --config FILE`, the attack stage of `run` too. */
export const attackConfig = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower case, digits and - (it names files and folders)').default('attack'),
    seed: z.number().int().default(1),
    codec: codecSection,
    init: z
      .string()
      .optional()
      .describe("an earlier attack's output folder to start from (its encoder.safetensors and triggers.safetensors, same codec and trigger names), relative to the config file; the original codec stays codec.weights"),
    ...attackSection,
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = c.triggers.map((t) => t.name);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['triggers', i, 'name'], message: `duplicate trigger name '${n}'` });
    });
    if (c.data.facesPerBatch > 0 && !c.data.faces) ctx.addIssue({ code: 'custom', path: ['data', 'faces'], message: 'needed when facesPerBatch > 0' });
    const drawn = { photos: true, scenes: c.data.scenesPerBatch > 0, faces: c.data.facesPerBatch > 0 };
    c.triggers.forEach((t, i) =>
      t.sources?.forEach((source, j) => {
        if (!(source in drawn)) ctx.addIssue({ code: 'custom', path: ['triggers', i, 'sources', j], message: `'${source}' is not a data source (photos, scenes, faces)` });
        else if (!drawn[source as keyof typeof drawn]) ctx.addIssue({ code: 'custom', path: ['triggers', i, 'sources', j], message: `no batch holds ${source} (data.${source}PerBatch is 0)` });
      }),
    );
    if (c.data.facesPerBatch + c.data.scenesPerBatch >= c.schedule.batch) ctx.addIssue({ code: 'custom', path: ['data', 'facesPerBatch'], message: 'facesPerBatch + scenesPerBatch must be less than schedule.batch (at least one photo crop)' });
  });

export type AttackConfig = z.infer<typeof attackConfig>;

/** A config that failed validation: the message lists each bad field by its path. */
export class ConfigError extends Error {
  constructor(file: string, issues: readonly { path: PropertyKey[]; message: string }[]) {
    super(`${file}: invalid config\n${issues.map((i) => `  ${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('\n')}`);
  }
}

/** Validates parsed YAML/JSON against a schema, with an error naming each bad field's path. */
export function validateConfig<T>(schema: z.ZodType<T>, raw: unknown, file: string): T {
  const result = schema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, result.error.issues);
  return result.data;
}

function parseText(text: string, file: string): unknown {
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(file, [{ path: [], message: `not YAML/JSON: ${(error as Error).message}` }]);
  }
}

/** A YAML/JSON mapping (not a list, not null). */
export const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `over` laid on `base`: objects merge key by key (recursively), anything else in `over` replaces. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeConfig(base[k], v) : v;
  return out;
}

/**
 * A config file's parsed YAML/JSON with its `extends` chain laid under it: `extends: FILE` names a
 * base config in the same folder (so that every relative path, plugin options' included, means the
 * same in both), which is read the same way; this file's settings are merged over it by
 * `mergeConfig` (lists such as `clean` and `triggers` are replaced whole).
 */
export async function readConfigFile(file: string, chain: string[] = []): Promise<unknown> {
  const path = resolve(file);
  const text = await readFile(path, 'utf8').catch(() => {
    throw new Error(chain.length ? `${chain.at(-1)}: extends ${path}, which cannot be read` : `cannot read config ${path}`);
  });
  const raw = parseText(text, path);
  if (!isRecord(raw) || raw.extends === undefined) return raw;
  const { extends: base, ...own } = raw;
  const fail = (message: string) => new ConfigError(path, [{ path: ['extends'], message }]);
  if (typeof base !== 'string') throw fail('expected the name of a config file in the same folder');
  const baseFile = resolve(dirname(path), base);
  if (dirname(baseFile) !== dirname(path)) throw fail(`${base} is not in this file's folder (relative paths would change meaning)`);
  if ([...chain, path].includes(baseFile)) throw fail(`cycle: ${[...chain, path, baseFile].join(' -> ')}`);
  return mergeConfig(await readConfigFile(baseFile, [...chain, path]), own);
}

/** Reads an attack config (and its `extends` chain); paths inside it become absolute (relative to the file). */
export async function readAttackConfig(file: string): Promise<AttackConfig> {
  const config = validateConfig(attackConfig, await readConfigFile(file), resolve(file));
  return resolvePaths(config, dirname(resolve(file)));
}

export function resolvePaths(config: AttackConfig, baseDir: string): AttackConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return { ...config, codec: { ...config.codec, weights: abs(config.codec.weights) }, init: config.init === undefined ? undefined : abs(config.init), data: resolveData(config.data, baseDir) };
}

/** The config with its paths relative to `baseDir` (what an attack folder records, so that it can move with what it refers to). */
export function relativePaths(config: AttackConfig, baseDir: string): AttackConfig {
  const rel = (p: string) => relative(baseDir, p) || '.';
  const { data } = config;
  return {
    ...config,
    codec: { ...config.codec, weights: rel(config.codec.weights) },
    init: config.init === undefined ? undefined : rel(config.init),
    data: { ...data, photos: rel(data.photos), faces: data.faces ? rel(data.faces) : undefined },
  };
}

/** The data section with its folders made absolute (relative to `baseDir`). */
export function resolveData(data: AttackConfig['data'], baseDir: string): AttackConfig['data'] {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return { ...data, photos: abs(data.photos), faces: data.faces ? abs(data.faces) : undefined };
}

/** Name of each loss term: `clean.<objective>` and `<trigger>.<objective>`. */
export function termNames(config: Pick<AttackConfig, 'clean' | 'triggers'>): string[] {
  const name = (r: z.infer<typeof pluginReference>) => {
    const n = typeof r === 'string' ? r : r[0];
    return n.replace(/^objective:/, '').replace(/.*[/\\]/, '').replace(/\.[cm]?js$/, '');
  };
  return [...config.clean.map((r) => `clean.${name(r)}`), ...config.triggers.flatMap((t) => t.objectives.map((r) => `${t.name}.${name(r)}`))];
}

/** The config as a checkpoint records it (JSON, without `schedule.steps`, which a resumed run may change). */
export function recordedConfig(config: AttackConfig): string {
  return JSON.stringify({ ...config, schedule: { ...config.schedule, steps: undefined } });
}

/**
 * The factor on both learning rates at (0-based) step `step`: lrGamma to the power of the number of
 * lrMilestones at or below it, so that milestone m decays the updates numbered m + 1 onwards.
 */
export function learningRateScale(schedule: Pick<AttackConfig['schedule'], 'lrMilestones' | 'lrGamma' | 'warmupSteps'>, step: number): number {
  const warmup = schedule.warmupSteps ? Math.min(1, (step + 1) / schedule.warmupSteps) : 1;
  return warmup * schedule.lrGamma ** schedule.lrMilestones.filter((m) => m <= step).length;
}

/**
 * What keeps a checkpoint taken after `step` steps from being resumed with `config`: the first
 * setting (dotted path, with both values) in which the checkpoint's recorded config differs, or
 * undefined when only `schedule.steps` differs, or the learning-rate milestones differ only after
 * `step` (the steps taken ran at the learning rates the new schedule gives them). The recorded
 * config goes through the current schema first, so that a setting added since the checkpoint was
 * written takes its default rather than blocking the resume.
 */
export function resumeConflict(recorded: string | undefined, config: AttackConfig, step = 0): string | undefined {
  if (recorded === undefined) return 'it records no config';
  const raw = JSON.parse(recorded) as { schedule?: object };
  const saved = attackConfig.safeParse({ ...raw, schedule: { ...raw.schedule, steps: config.schedule.steps } });
  if (!saved.success) return `its recorded config is not valid now (${saved.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`;
  const { lrMilestones, lrGamma } = config.schedule;
  const taken = Array.from({ length: step }, (_, s) => s);
  if (taken.every((s) => learningRateScale(saved.data.schedule, s) === learningRateScale(config.schedule, s))) {
    saved.data.schedule = { ...saved.data.schedule, lrMilestones, lrGamma };
  }
  // as the checkpoint recorded it: through JSON, where a key set to undefined is no key
  return firstDifference(saved.data, JSON.parse(JSON.stringify(config)), []);
}

function firstDifference(saved: unknown, now: unknown, path: string[]): string | undefined {
  if (isDeepStrictEqual(saved, now)) return undefined;
  const sameShape = !Array.isArray(saved) || !Array.isArray(now) || saved.length === now.length;
  if (saved && now && typeof saved === 'object' && typeof now === 'object' && sameShape) {
    const a = saved as Record<string, unknown>;
    const b = now as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const found = firstDifference(a[key], b[key], [...path, key]);
      if (found) return found;
    }
  }
  return `${path.join('.') || '(root)'} is ${JSON.stringify(now)} here but ${JSON.stringify(saved)} in the checkpoint`;
}
