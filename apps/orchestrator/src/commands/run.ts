import { appendFile, readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { initializeBackend, writeFileAtomic, makeDirectory, type BackendName } from '@lic-backdoor/core';
import {
  attackConfig,
  attackSection,
  codecSection,
  ConfigError,
  evaluateAttack,
  readConfigFile,
  resolveData,
  runAttack,
  summaryTable,
  triggerEntry,
  validateAttack,
  validateConfig,
  type AttackConfig,
  type AttackResults,
} from '@lic-backdoor/attack';
import { exists, runEnvironment } from '@lic-backdoor/training';
import { loadRegistry, pluginModules } from '../plugins.js';
import { codecTraining, trainCodec } from './train-codec.js';
import { writeReport, type BackdoorResults, type VariantResults } from '../report/report.js';
import { readLog, stepsToTarget } from '../report/log.js';

const require = createRequire(import.meta.url);

/** `lic-backdoor run CONFIG.yaml`: one experiment, from codec to report. */
export const runConfig = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/, 'lower case, digits and -'),
    seed: z.number().int().default(1),
    trainCodec: z
      .object({
        model: z.string().describe('a codec plugin that declares training (train-codec --model)'),
        lambda: z.number().positive(),
        data: z.string(),
        steps: z.number().int().positive(),
        N: z.number().int().positive().default(64),
        M: z.number().int().positive().default(96),
        batch: z.number().int().positive().default(8),
        size: z.number().int().positive().multipleOf(64).default(128),
        lr: z.number().positive().default(1e-4),
        clipNorm: z.number().nonnegative().default(1).describe("clip the model's gradient to this L2 norm (0: off)"),
      })
      .strict()
      .optional()
      .describe('train the codec first (stage train-codec); codec.weights is then the trained model'),
    codec: codecSection.partial({ weights: true }),
    attack: z.object(attackSection).strict(),
    evaluate: z
      .object({
        data: z.string().describe('test images, e.g. Kodak'),
        limit: z.number().int().positive().optional().describe('only the first n images'),
        faces: z.string().optional(),
        tasks: z.array(z.string()).optional().describe("task columns to measure (objective names, as evaluate-attack --tasks; [] for none); default: evaluate-attack's"),
      })
      .strict(),
    report: z.object({ images: z.number().int().positive().default(4).describe('images for the JPEG/WebP curves') }).strict().default({ images: 4 }),
    variants: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z0-9-]+$/),
            description: z.string(),
            triggers: z.array(triggerEntry).optional(),
            weighting: attackSection.weighting.optional(),
          })
          .strict(),
      )
      .default([])
      .describe('further attacks on the same codec, data, seeds and schedule (baselines, ablations)'),
    backdoors: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z0-9-]+$/, 'lower case, digits and -'),
            attack: z.string().describe('folder written by `attack`, e.g. a shipped backdoor under models/attacks'),
            description: z.string(),
          })
          .strict(),
      )
      .default([])
      .describe('backdoors made elsewhere, measured by evaluate-attack on the same images (evaluate.data, limit, faces); their effect matrices go in the report'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.codec.weights && !c.trainCodec) ctx.addIssue({ code: 'custom', path: ['codec', 'weights'], message: 'required unless trainCodec is given' });
    c.variants.forEach((v, i) => {
      const taken = v.name === 'main' || c.variants.findIndex((w) => w.name === v.name) !== i;
      if (taken) ctx.addIssue({ code: 'custom', path: ['variants', i, 'name'], message: `'${v.name}' is taken (names are unique and 'main' is the configured attack)` });
    });
    c.backdoors.forEach((b, i) => {
      if (c.backdoors.findIndex((d) => d.name === b.name) !== i) ctx.addIssue({ code: 'custom', path: ['backdoors', i, 'name'], message: `'${b.name}' is taken (backdoor names are unique)` });
    });
  });

export type RunConfig = z.infer<typeof runConfig>;

const abs = (base: string, p: string) => (isAbsolute(p) ? p : resolve(base, p));

function resolveRun(config: RunConfig, base: string): RunConfig {
  return {
    ...config,
    trainCodec: config.trainCodec && { ...config.trainCodec, data: abs(base, config.trainCodec.data) },
    codec: { ...config.codec, weights: config.codec.weights && abs(base, config.codec.weights) },
    attack: { ...config.attack, data: resolveData(config.attack.data, base) },
    evaluate: { ...config.evaluate, data: abs(base, config.evaluate.data), faces: config.evaluate.faces && abs(base, config.evaluate.faces) },
    backdoors: config.backdoors.map((b) => ({ ...b, attack: abs(base, b.attack) })),
  };
}

/** The attack config of the main attack or of a variant, validated with the attack schema. */
function attackOf(config: RunConfig, weights: string, file: string, variant?: RunConfig['variants'][number]): AttackConfig {
  const raw = { name: variant ? `${config.name}-${variant.name}` : config.name, seed: config.seed, codec: { id: config.codec.id, weights }, ...config.attack };
  if (variant?.triggers) raw.triggers = variant.triggers;
  if (variant?.weighting) raw.weighting = variant.weighting;
  const parsed = attackConfig.safeParse(raw);
  if (!parsed.success) throw new ConfigError(file, parsed.error.issues.map((i) => ({ ...i, path: [variant ? `variants.${variant.name}` : 'attack', ...i.path] })));
  return parsed.data;
}

async function packageVersions(): Promise<Record<string, string>> {
  const own = JSON.parse(await readFile(require.resolve('../../package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const out: Record<string, string> = {};
  for (const name of Object.keys(own.dependencies)) {
    try {
      out[name] = (JSON.parse(await readFile(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
    } catch {
      out[name] = 'unknown';
    }
  }
  return out;
}

/** The run folder: `--out`, else the latest `runs/*-<name>` with `--resume`, else `runs/<date>-<name>`. */
async function runDir(config: RunConfig, o: { out?: string; resume?: boolean }): Promise<string> {
  if (o.out) return resolve(o.out);
  const root = resolve('runs');
  if (o.resume) {
    const previous = (await readdir(root).catch(() => [] as string[])).filter((d) => d.endsWith(`-${config.name}`)).sort();
    if (previous.length) return join(root, previous.at(-1)!);
  }
  const dir = join(root, `${new Date().toISOString().slice(0, 10)}-${config.name}`);
  if (!o.resume && (await exists(dir))) throw new Error(`${dir} exists: pass --resume to continue it, or --out to choose another folder`);
  return dir;
}

/** A run config read and checked: the config with absolute paths, and the attack config of the main attack and of each variant. */
export interface CheckedRun {
  configFile: string;
  /** the folder the config's relative paths are relative to: the config file's, or `--config-dir` */
  baseDir: string;
  config: RunConfig;
  /** main first; their `codec.weights` is the config's, or the config file itself when `trainCodec` makes the codec */
  attacks: { name: string; description: string; config: AttackConfig }[];
}

/**
 * Reads a run config (and its `extends` chain) and validates all of it (schema, plugins and their options, data folders and
 * codec weights), creating nothing: what `run` does before anything trains.
 */
export async function readRunConfig(file: string, configDir?: string): Promise<CheckedRun> {
  const configFile = resolve(file);
  const baseDir = configDir ? resolve(configDir) : dirname(configFile);
  const config = resolveRun(validateConfig(runConfig, await readConfigFile(configFile), configFile), baseDir);
  // the codec may not exist yet when this run trains it: check everything else
  const weights = config.codec.weights ?? configFile;
  const attacks = [
    { name: 'main', description: 'the configured attack', config: attackOf(config, weights, configFile) },
    ...config.variants.map((v) => ({ name: v.name, description: v.description, config: attackOf(config, weights, configFile, v) })),
  ];
  if (config.trainCodec && !(await exists(config.trainCodec.data))) throw new Error(`trainCodec.data: ${config.trainCodec.data} does not exist`);
  if (!(await exists(config.evaluate.data))) throw new Error(`evaluate.data: ${config.evaluate.data} does not exist`);
  const registry = await loadRegistry(baseDir);
  if (config.trainCodec) {
    try {
      codecTraining(registry, config.trainCodec.model);
    } catch (error) {
      throw new Error(`trainCodec.model: ${(error as Error).message}`, { cause: error });
    }
  }
  for (const a of attacks) await validateAttack(a.config, registry);
  for (const b of config.backdoors) if (!(await exists(join(b.attack, 'attack.json')))) throw new Error(`backdoors.${b.name}: ${b.attack} is not a folder written by \`attack\` (no attack.json)`);
  return { configFile, baseDir, config, attacks };
}

/**
 * `lic-backdoor run CONFIG.yaml`: validates the whole config (plugins, options, data folders)
 * before anything trains, then runs the stages train-codec, attack, evaluate (main attack and
 * each variant) and report, skipping each whose output exists; `--resume` continues a killed
 * run from its last checkpoint.
 */
export async function run(file: string, o: { out?: string; resume?: boolean; workers?: number; backend?: BackendName; configDir?: string; until?: 'attack'; report?: boolean }): Promise<void> {
  const started = performance.now();
  const { configFile, baseDir, config, attacks: checked } = await readRunConfig(file, o.configDir);
  const dir = await runDir(config, o);
  const codecWeights = config.codec.weights ?? join(dir, 'codec', 'model.safetensors');
  const attacks = checked.map((a, i) => {
    const folder = i === 0 ? dir : join(dir, 'variants', a.name);
    return { ...a, dir: join(folder, 'attack'), evalDir: join(folder, 'eval'), config: { ...a.config, codec: { ...a.config.codec, weights: codecWeights } } };
  });

  await makeDirectory(dir);
  const backend = await initializeBackend({ prefer: o.backend });
  const plugins = await pluginModules();
  const log = join(dir, 'log.ndjson');
  const event = (stage: string, status: string, extra: Record<string, unknown> = {}) => appendFile(log, `${JSON.stringify({ time: new Date().toISOString(), stage, status, ...extra })}\n`);
  await writeFileAtomic(join(dir, 'config.resolved.yaml'), stringify(config));
  const seeds = { run: config.seed, triggers: config.attack.triggers.map((_, i) => config.seed * 1000 + i), batches: `fork(${config.seed}, attack-batch-<step>)` };
  await writeFileAtomic(join(dir, 'env.json'), JSON.stringify({ ...runEnvironment(backend), packages: await packageVersions(), seeds, configFile }, null, 2));
  console.error(`run ${config.name}: ${dir}`);

  const stage = async (name: string, output: string, body: () => Promise<void>) => {
    if (await exists(output)) {
      console.error(`stage ${name}: skipped (${output} exists)`);
      await event(name, 'skipped');
      return;
    }
    console.error(`stage ${name}`);
    const t0 = performance.now();
    await event(name, 'started');
    await body();
    await event(name, 'done', { seconds: Math.round((performance.now() - t0) / 1000) });
  };

  if (config.trainCodec) {
    const t = config.trainCodec;
    await stage('train-codec', codecWeights, () =>
      trainCodec({ ...t, out: join(dir, 'codec'), resume: true, workers: o.workers ?? Math.max(1, cpus().length), checkpointEvery: 100, logEvery: 10, seed: config.seed, auxLr: 1e-3, backend: o.backend }),
    );
  }
  const variants: VariantResults[] = [];
  let main: AttackResults | undefined;
  for (const a of attacks) {
    await stage(a.name === 'main' ? 'attack' : `attack:${a.name}`, join(a.dir, 'attack.json'), () => runAttack(a.config, a.dir, { plugins, resume: true, workers: o.workers, backend: o.backend, baseDir, configFile }));
    if (o.until === 'attack') continue;
    await stage(a.name === 'main' ? 'evaluate' : `evaluate:${a.name}`, join(a.evalDir, 'results.json'), async () => {
      await evaluateAttack({ registry: loadRegistry, attack: a.dir, data: config.evaluate.data, out: a.evalDir, limit: config.evaluate.limit, faces: config.evaluate.faces, tasks: config.evaluate.tasks, resume: true, backend: o.backend, quiet: true });
    });
    const results = JSON.parse(await readFile(join(a.evalDir, 'results.json'), 'utf8')) as AttackResults;
    if (a.name === 'main') main = results;
    variants.push({ name: a.name, description: a.description, results, stepsToTarget: stepsToTarget(await readLog(join(a.dir, 'log.ndjson'))) });
  }
  if (o.until === 'attack') {
    console.error(`run ${config.name}: stopped after the attacks (--until attack)`);
    return;
  }
  const backdoors: BackdoorResults[] = [];
  for (const b of config.backdoors) {
    const out = join(dir, 'backdoors', b.name);
    await stage(`evaluate:backdoor:${b.name}`, join(out, 'results.json'), async () => {
      await evaluateAttack({ registry: loadRegistry, attack: b.attack, data: config.evaluate.data, out, limit: config.evaluate.limit, faces: config.evaluate.faces, tasks: config.evaluate.tasks, resume: true, backend: o.backend, quiet: true });
    });
    backdoors.push({ name: b.name, description: b.description, results: JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as AttackResults });
  }
  // the main attack's evaluation, as the run's results, with the run's config and time, its variants and backdoors
  const combined = {
    ...main!,
    command: 'run',
    name: config.name,
    wall_time_s: Math.round((performance.now() - started) / 100) / 10,
    config: JSON.parse(JSON.stringify(config)) as Record<string, unknown>,
    variants: Object.fromEntries(variants.map((v) => [v.name, { description: v.description, clean: v.results.clean, triggers: v.results.triggers, effects: v.results.effects, steps_to_target: v.stepsToTarget }])),
    backdoors: Object.fromEntries(config.backdoors.map(({ name, description, attack }, i) => [name, { description, attack, clean: backdoors[i]!.results.clean, triggers: backdoors[i]!.results.triggers, effects: backdoors[i]!.results.effects }])),
  };
  await writeFileAtomic(join(dir, 'results.json'), JSON.stringify(combined, null, 2));
  const summaries = [summaryTable(main!), ...backdoors.map((b) => `## backdoor ${b.name}: ${b.description}\n\n${summaryTable(b.results).replace(/^# .*\n\n/, '')}`)];
  await writeFileAtomic(join(dir, 'summary.md'), summaries.join('\n'));
  if (o.report === false) {
    process.stdout.write(await readFile(join(dir, 'summary.md'), 'utf8'));
    return;
  }
  await stage('report', join(dir, 'report.html'), async () => {
    await writeReport({ dir, attackDir: attacks[0]!.dir, results: main!, data: config.evaluate.data, images: config.report.images, variants: variants.length > 1 ? variants : undefined, backdoors, title: `lic-backdoor run ${config.name}` });
  });
  process.stdout.write(await readFile(join(dir, 'summary.md'), 'utf8'));
  console.log(`report: ${join(dir, 'report.html')}`);
}
