import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { appendFile, readFile, readdir } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, listImages, readImage, writeFileAtomic, makeDirectory, type BackendName, type CodecV1, type EvaluatorV1, type Metric, type ObjectiveEvaluationV1, type ObjectivePluginV1, type PluginRegistry } from '@lic-backdoor/core';
import { METRIC_DEFINITIONS, msSsimAgainst, psnr, type TriggerOrigin } from '@lic-backdoor/evaluators';
import { Progress, readNdjson, runEnvironment } from '@lic-backdoor/training';
import type { AttackConfig } from './config.js';
import type { AttackResults } from './results.js';
import { loadAttack, triggeredImage } from './load.js';
import { CLEAN_BOUNDS, EFFECTS, effectMatrix, effectMatrixMarkdown, type Bound, type Effect, type EffectRow, type PathValues } from './effects.js';
import { backdoorFile } from './trainable.js';
import type { RegistryFactory } from './plugins.js';
import type { Runtime } from '@lic-backdoor/onnx';

export const ATTACK_DEFINITIONS = {
  trigger_origin: "where each trigger's block grid starts (config.triggerOrigin): codec, at the corner of the frame the codecs pad the image to (zeros, centred, to a multiple of 64), so that its blocks sit on the encoder's grid; image, at the image's top-left corner (the same for sides that are multiples of 64)",
  stealth_psnr: 'PSNR(triggered input rounded to 8 bits, original input), dB, as psnr',
  rate_gain: 'bpp_actual(triggered) / bpp_actual(clean), both through the backdoored codec, per image then averaged',
  decoded_psnr: 'PSNR(decoded triggered image, triggered input), dB',
  decoded_psnr_vs_original: 'PSNR(decoded triggered image, original clean input), dB',
  decoded_ms_ssim_vs_original: 'MS-SSIM(decoded triggered image, original clean input)',
  original_codec_rate_gain: 'control: bpp_actual(triggered) / bpp_actual(clean) through the original (not backdoored) codec',
  bpp_ratio: 'clean.backdoored: mean bpp_actual through the backdoored codec / mean bpp_actual through the original codec (bpp_ratio_min, bpp_ratio_max: the least and largest per-image ratio)',
  tasks: 'task columns (e.g. seg_agreement_miou, face_identity_rate): per path (clean through either codec, each trigger through the backdoored codec), the metric of the evaluator an objective plugin declares (its evaluation) between the originals and their decodings: per image then averaged (on: images), or over the face set (on: faces: --faces, else the config\'s held-out identities, else all of its faces)',
  control: 'control_<metric>: the trigger\'s on-target task metric for its triggered images decoded by the original codec (what the trigger does without the backdoor)',
  change: 'clean.change: backdoored codec minus original codec on clean images, per metric',
} as const;

interface Coded {
  bpp: number;
  psnr: number;
  msssim: number;
}

/** An image through a codec's real bitstream: its bpp and the decoded image. */
async function code(codec: CodecV1, x: tf.Tensor4D): Promise<{ bpp: number; decoded: tf.Tensor4D }> {
  const e = await codec.compress(x);
  return { bpp: (8 * e.bytes.length) / (e.height * e.width), decoded: await codec.decompress(e.bytes) };
}

function means<T extends object>(rows: T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(rows[0] ?? {})) {
    const v = rows.map((r) => (r as Record<string, unknown>)[k]).filter((x): x is number => typeof x === 'number');
    if (v.length) out[k] = v.reduce((a, b) => a + b, 0) / v.length;
  }
  return out;
}

/** The objective plugins of each trigger, by trigger name (a package or module reference resolved to its factory). */
async function objectiveFactories(registry: PluginRegistry, config: AttackConfig): Promise<Record<string, ObjectivePluginV1[]>> {
  const entries = await Promise.all(config.triggers.map(async (t) => [t.name, await Promise.all(t.objectives.map(async (ref) => (await registry.resolve('objective', ref)).factory as ObjectivePluginV1))] as const));
  return Object.fromEntries(entries);
}

/** What `evaluate-attack` measured on one image; appended to `images.ndjson` as soon as it is done. */
interface ImageRecord {
  image: string;
  /** Coded, and the metric of every task measured on images (e.g. `seg_agreement_miou`). */
  clean: { original: Coded & Record<string, number>; backdoored: Coded & Record<string, number> };
  /** Per trigger: the ATTACK_DEFINITIONS metrics, each image task's metric, and `control_<metric>` for the tasks of its objectives. */
  triggers: Record<string, Record<string, number>>;
}

/** Bumped when the records change shape: a resumed run never mixes records of two shapes. */
const RECORDS_VERSION = 3;

/** The header line of `images.ndjson`: a resumed run must evaluate the same attack (folder and the bytes of its codec and triggers) on the same folder, with the same tasks and trigger origin. */
async function recordsHeader(attack: string, data: string, tasks: Task[], origin: TriggerOrigin): Promise<string> {
  const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
  const measured = tasks.filter((t) => t.evaluation.on === 'images').map((t) => t.objective);
  return JSON.stringify({ attack, codec: await sha256(backdoorFile(attack)), triggers: await sha256(join(attack, 'triggers.safetensors')), data, records: RECORDS_VERSION, tasks: measured, origin });
}

/** The records of an earlier run into `file` by image (a torn last line, from a crash, is dropped); none if there is none. */
async function readRecords(file: string, header: string): Promise<Map<string, ImageRecord>> {
  const [head, ...records] = await readNdjson<ImageRecord>(file);
  if (head && JSON.stringify(head) !== header) throw new Error(`${file} holds the images of another attack or data folder, or of another version or --tasks of evaluate-attack (${JSON.stringify(head)}); use another --out`);
  return new Map(records.map((r) => [r.image, r]));
}

/**
 * Default largest image `evaluate-attack` takes, in megapixels: triggers and metrics run in tfjs,
 * whose wasm heap (4 GB at most) gives out between 1.5 and 3 megapixels (measured on the shipped
 * backdoor); the codecs themselves code 24-megapixel photos.
 */
export const MAX_MEGAPIXELS = 2;

/** Throws, before any work, naming the first image above `maxMegapixels` and the option that raises the limit. */
async function checkSizes(files: string[], maxMegapixels: number): Promise<void> {
  for (const file of files) {
    const { width = 0, height = 0 } = await sharp(file).metadata();
    if (width * height > maxMegapixels * 1e6) {
      throw new Error(`${file} is ${width} x ${height} (${((width * height) / 1e6).toFixed(1)} megapixels), above evaluate-attack's limit of ${maxMegapixels} megapixels: triggers and metrics run in tfjs, whose wasm heap gives out near 3 megapixels. Downscale or crop the images, or raise the limit with --max-megapixels N (with a tfjs backend that holds the image)`);
    }
  }
}

/**
 * Runs the work on one image; a wasm heap that gives out (`RuntimeError: Aborted()`, `memory
 * access out of bounds`) becomes an error naming the image, its size and `--max-megapixels`.
 */
export async function onImage<T>(file: string, x: tf.Tensor4D, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (cause) {
    // WebAssembly.RuntimeError, what emscripten's abort and an out-of-bounds access throw
    if (!(cause instanceof Error) || cause.name !== 'RuntimeError') throw cause;
    const [, h, w] = x.shape;
    throw new Error(`${file} (${w} x ${h}, ${((w * h) / 1e6).toFixed(1)} megapixels): the tfjs wasm heap gave out (${cause.message}); evaluate smaller images or lower --max-megapixels`, { cause });
  }
}

/** Part K (1-based) of N of a folder's images. */
export interface Shard {
  index: number;
  count: number;
}

/** Parses `K/N` (1 <= K <= N). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!(count >= 1 && index >= 1 && index <= count)) throw new Error(`expected --shard K/N with 1 <= K <= N, got '${text}'`);
  return { index, count };
}

/** The shard files in `out` (`images.K-of-N.ndjson`). */
async function shardFiles(out: string): Promise<string[]> {
  return (await readdir(out)).filter((f) => /^images\.\d+-of-\d+\.ndjson$/.test(f)).sort().map((f) => join(out, f));
}

/** A task column of the effect matrix: an objective plugin and the evaluation it declares. */
export interface Task {
  /** The objective plugin's name (what `--tasks` lists). */
  objective: string;
  evaluation: ObjectiveEvaluationV1;
  /** Its bounds (`ObjectivePluginV1.bounds`), for triggers trained with it. */
  bounds: Record<Effect, Bound>;
}

/** Parses `--tasks`: a comma-separated list of objective names, or `none` (checked against the registry's tasks when the evaluation starts). */
export function parseTasks(text: string): string[] {
  if (text === 'none') return [];
  return text.split(',').map((t) => t.trim()).filter(Boolean);
}

/**
 * The tasks an evaluation can measure: every registered objective plugin that declares an
 * evaluation, then those of the attack's own objectives loaded from modules (third-party plugins).
 */
function availableTasks(registry: PluginRegistry, triggerObjectives: Record<string, ObjectivePluginV1[]>): Task[] {
  const factories = [...(registry.list('objective') as ObjectivePluginV1[]), ...Object.values(triggerObjectives).flat()];
  const tasks = new Map<string, Task>();
  for (const f of factories) if (f.evaluation && !tasks.has(f.name)) tasks.set(f.name, { objective: f.name, evaluation: f.evaluation, bounds: { ...f.bounds } });
  return [...tasks.values()];
}


type Loaded = Awaited<ReturnType<typeof loadAttack>>;

/** The face set of an evaluation: `--faces`, else the config's faces minus the identities used in training (all of them when no trigger was trained on faces); undefined when there is none. */
async function faceSet(config: AttackConfig, faces: string | undefined, faceTrained: boolean): Promise<string[] | undefined> {
  if (faces) return listImages(resolve(faces), { recursive: true });
  const dir = config.data.faces;
  if (!dir) return undefined;
  const trained = faceTrained ? (config.data.faceFolders ?? []) : [];
  return (await listImages(dir, { recursive: true })).filter((f) => !trained.includes(f.slice(dir.length + 1).split(sep)[0]!));
}

/**
 * The columns of the tasks measured on the face set: every face through the original and the
 * backdoored codec, and each trigger's triggered face through the backdoored codec (and, for the
 * triggers trained for the task, through the original codec as the control), decoded once and
 * compared by each task's evaluator (created with the attack's faces folder as `calibration`).
 */
async function faceSetEffects(
  loaded: Loaded,
  files: string[],
  tasks: Task[],
  wants: (trigger: string, objective: string) => boolean,
  origin: TriggerOrigin,
): Promise<{ metrics: Record<string, Metric>; paths: Record<string, Record<string, number>> }> {
  const { config, registry, original, backdoored, triggers } = loaded;
  // the face-recognition threshold is calibrated on the attack's faces folder (identities as subfolders), else on the default set beside the working directory
  const calibration = config.data.faces ?? resolve('../shared/data/faces/johns');
  const paths: Record<string, tf.Tensor4D[]> = { original: [], backdoored: [] };
  const originals: tf.Tensor4D[] = [];
  const decode = async (codec: CodecV1, x: tf.Tensor4D) => codec.decompress((await codec.compress(x)).bytes);
  const progress = new Progress(`evaluate-attack ${config.name}: face set`, files.length, 10);
  for (const f of files) {
    const x = await readImage(f);
    originals.push(x);
    paths.original!.push(await decode(original, x));
    paths.backdoored!.push(await decode(backdoored, x));
    for (const { name, trigger } of triggers) {
      const xt = triggeredImage(trigger, x, origin);
      (paths[`trigger:${name}`] ??= []).push(await decode(backdoored, xt));
      if (tasks.some((t) => wants(name, t.objective))) (paths[`control:${name}`] ??= []).push(await decode(original, xt));
      xt.dispose();
    }
    progress.update(originals.length, basename(f));
  }
  progress.done();
  const values: Record<string, Record<string, number>> = {};
  const metrics: Record<string, Metric> = {};
  for (const task of tasks) {
    const [name, options] = typeof task.evaluation.evaluator === 'string' ? [task.evaluation.evaluator, {}] : task.evaluation.evaluator;
    const evaluator = (await registry.create('evaluator', [name, { ...(options as object), calibration }])) as EvaluatorV1;
    for (const [path, decoded] of Object.entries(paths)) {
      if (path.startsWith('control:') && !wants(path.slice('control:'.length), task.objective)) continue;
      const m = await evaluator.evaluate(originals, decoded);
      const metric = m[task.evaluation.metric];
      if (!metric) throw new Error(`evaluator ${name} returned no '${task.evaluation.metric}', the metric objective ${task.objective} declares (it returned ${Object.keys(m).join(', ')})`);
      Object.assign(metrics, m);
      (values[path] ??= {})[task.evaluation.metric] = metric.value;
    }
    await evaluator.dispose();
  }
  tf.dispose([...originals, ...Object.values(paths).flat()]);
  return { metrics, paths: values };
}

/**
 * `lic-backdoor evaluate-attack`: on every image of a folder, with real bitstreams: the clean path
 * through the original and the backdoored codec, and for each trigger its stealth, rate gain and
 * decoded quality; with `tasks` (default: segmentation, and face when a face set is known) every
 * path also through the segmentation evaluator (per image, so memory does not grow with the
 * folder) and the face evaluator (on the face set), whatever the trigger was trained for: the
 * effect matrix (`effects` in results.json, the table of summary.md). Each image's measurements
 * are appended to `images.ndjson` in `out` when done; `resume` skips the images found there and in
 * the shard files. With `shard` (K of N), it measures only the images whose index in the folder is
 * K - 1 modulo N, into `images.K-of-N.ndjson`, and stops there (returns undefined): shards run
 * side by side, and a later `resume` run without `shard` combines them. Triggers are planted with
 * their block grid on the codecs' padded frame (`triggerOrigin` `codec`, the default) or from the
 * image's corner (`image`).
 */
export async function evaluateAttack(o: { registry: RegistryFactory; attack: string; data: string; out: string; limit?: number; faces?: string; tasks?: string[]; resume?: boolean; shard?: Shard; runtime?: Runtime; maxMegapixels?: number; backend?: BackendName; quiet?: boolean; triggerOrigin?: TriggerOrigin }): Promise<AttackResults | undefined> {
  const backend = await initializeBackend({ prefer: o.backend });
  const dir = resolve(o.attack);
  const loaded = await loadAttack(dir, { registry: o.registry, runtime: o.runtime });
  const { config, registry, original, backdoored, triggers } = loaded;
  const release = () => {
    for (const t of triggers) t.trigger.dispose();
    original.dispose();
    backdoored.dispose();
  };
  const triggerObjectives = await objectiveFactories(registry, config);
  const objectivesOf = (name: string) => triggerObjectives[name]!.map((f) => f.name);
  const wants = (name: string, objective: string) => objectivesOf(name).includes(objective);
  const available = availableTasks(registry, triggerObjectives);
  for (const t of o.tasks ?? []) if (!available.some((a) => a.objective === t)) throw new Error(`--tasks: unknown task '${t}' (the objectives that declare an evaluation: ${available.map((a) => a.objective).join(', ')}; or none)`);
  const onFaces = (t: Task) => t.evaluation.on === 'faces';
  const faces = await faceSet(config, o.faces, triggers.some((t) => available.some((a) => onFaces(a) && wants(t.name, a.objective))));
  // default: every task, those on the face set when there is one
  const tasks = o.tasks ? available.filter((a) => o.tasks!.includes(a.objective)) : available.filter((a) => !onFaces(a) || faces);
  const [imageTasks, faceTasks] = [tasks.filter((t) => !onFaces(t)), tasks.filter(onFaces)];
  if (faceTasks.length && !faces) throw new Error(`--tasks ${faceTasks.map((t) => t.objective).join(',')} needs a face set: pass --faces DIR (the attack config names none)`);
  const { shard } = o;
  const files = (await listImages(resolve(o.data))).slice(0, o.limit ?? Infinity).filter((_, i) => !shard || i % shard.count === shard.index - 1);
  await checkSizes([...files, ...(faceTasks.length ? faces! : [])], o.maxMegapixels ?? MAX_MEGAPIXELS);
  const out = resolve(o.out);
  await makeDirectory(out);
  const recordsFile = join(out, shard ? `images.${shard.index}-of-${shard.count}.ndjson` : 'images.ndjson');
  const origin = o.triggerOrigin ?? 'codec';
  const header = await recordsHeader(dir, resolve(o.data), tasks, origin);
  const earlier = new Map<string, ImageRecord>();
  if (o.resume) for (const f of [recordsFile, ...(shard ? [] : await shardFiles(out))]) for (const [k, r] of await readRecords(f, header)) earlier.set(k, r);
  const records = files.map((f) => earlier.get(basename(f))).filter((r): r is ImageRecord => r !== undefined);
  await writeFileAtomic(recordsFile, [header, ...records.map((r) => JSON.stringify(r))].join('\n') + '\n');
  if (records.length) console.error(`resuming ${recordsFile}: ${records.length} of ${files.length} images done`);
  const started = performance.now();
  const progress = new Progress(`evaluate-attack ${config.name}${shard ? ` (shard ${shard.index}/${shard.count})` : ''}`, files.length, 1, records.length);
  const evaluators = await Promise.all(imageTasks.map(async (t) => ({ task: t, evaluator: (await registry.create('evaluator', t.evaluation.evaluator)) as EvaluatorV1 })));
  const taskMetrics: Record<string, Metric> = {};
  // each image task's metric of one decoding (the segmenter runs in onnxruntime, on its own threads, while tfjs computes PSNR and MS-SSIM)
  const evaluate = async (x: tf.Tensor4D, decoded: tf.Tensor4D, only?: (t: Task) => boolean): Promise<Record<string, number>> => {
    const values: Record<string, number> = {};
    for (const { task, evaluator } of evaluators) {
      if (only && !only(task)) continue;
      const { metric } = task.evaluation;
      const m = (await evaluator.evaluate([x], [decoded]))[metric];
      if (!m) throw new Error(`evaluator ${evaluator.id} returned no '${metric}', the metric objective ${task.objective} declares`);
      taskMetrics[metric] = m;
      values[metric] = m.value;
    }
    return values;
  };
  for (const file of files) {
    if (earlier.has(basename(file))) continue;
    const x = await readImage(file);
    const record = await onImage(file, x, async () => {
      // x's side of MS-SSIM once for the six decodings; segmentation runs in onnxruntime, on its
      // own threads, while tfjs computes PSNR and MS-SSIM
      const ms = msSsimAgainst(x);
      const measure = async (decoded: tf.Tensor4D) => {
        const tasked = evaluate(x, decoded);
        const values = { psnr: psnr(x, decoded), msssim: ms.measure(decoded) };
        return { ...values, ...(await tasked) };
      };
      const [a, b] = [await code(original, x), await code(backdoored, x)];
      const record: ImageRecord = { image: basename(file), clean: { original: { bpp: a.bpp, ...(await measure(a.decoded)) }, backdoored: { bpp: b.bpp, ...(await measure(b.decoded)) } }, triggers: {} };
      tf.dispose([a.decoded, b.decoded]);
      for (const { name, trigger } of triggers) {
        const xt = triggeredImage(trigger, x, origin);
        const control = original.compress(xt);
        const t = await code(backdoored, xt);
        const { psnr: decodedPsnr, msssim, ...taskValues } = await measure(t.decoded);
        const c = await control;
        record.triggers[name] = {
          stealth_psnr: psnr(x, xt),
          bpp: t.bpp,
          rate_gain: t.bpp / b.bpp,
          decoded_psnr: psnr(xt, t.decoded),
          decoded_psnr_vs_original: decodedPsnr,
          decoded_ms_ssim_vs_original: msssim,
          original_codec_rate_gain: (8 * c.bytes.length) / (c.height * c.width) / a.bpp,
          ...taskValues,
        };
        // the control of the tasks this trigger was trained for: its triggered image through the original codec
        const trained = (t: Task) => wants(name, t.objective);
        if (imageTasks.some(trained)) {
          const controlDecoded = await original.decompress(c.bytes);
          for (const [k, v] of Object.entries(await evaluate(x, controlDecoded, trained))) record.triggers[name]![`control_${k}`] = v;
          controlDecoded.dispose();
        }
        tf.dispose([xt, t.decoded]);
      }
      ms.dispose();
      return record;
    });
    x.dispose();
    records.push(record);
    await appendFile(recordsFile, `${JSON.stringify(record)}\n`);
    progress.update(records.length, basename(file));
  }
  progress.done();
  for (const { evaluator } of evaluators) await evaluator.dispose();
  if (shard) {
    console.error(`shard ${shard.index}/${shard.count}: ${records.length} images in ${recordsFile}; run evaluate-attack again without --shard, with --resume, to combine the shards`);
    release();
    return undefined;
  }
  // in the folder's order, whatever order earlier runs measured them in
  const order = new Map(files.map((f, i) => [basename(f), i]));
  records.sort((p, q) => order.get(p.image)! - order.get(q.image)!);
  const clean = records.map((r) => ({ image: r.image, ...r.clean }));
  const perTrigger = Object.fromEntries(triggers.map(({ name }) => [name, records.map((r) => ({ image: r.image, ...r.triggers[name]! }))]));
  const face = faceTasks.length ? await faceSetEffects(loaded, faces!, faceTasks, wants, origin) : undefined;
  const control = (name: string) => Object.fromEntries(Object.entries(face?.paths[`control:${name}`] ?? {}).map(([k, v]) => [`control_${k}`, v]));

  const ratios = clean.map((c) => c.backdoored.bpp / c.original.bpp);
  const bppMean = (side: 'original' | 'backdoored') => clean.reduce((sum, c) => sum + c[side].bpp, 0) / clean.length;
  const originalMeans: Record<string, number> = { ...means(clean.map((c) => c.original)), ...face?.paths.original };
  const backdooredMeans: Record<string, number> = {
    ...means(clean.map((c) => c.backdoored)),
    ...face?.paths.backdoored,
    bpp_ratio: bppMean('backdoored') / bppMean('original'),
    bpp_ratio_min: Math.min(...ratios),
    bpp_ratio_max: Math.max(...ratios),
  };
  const triggerMeans: Record<string, Record<string, number>> = Object.fromEntries(triggers.map(({ name }) => [name, { ...means(perTrigger[name]!), ...face?.paths[`trigger:${name}`], ...control(name) }]));
  // the task columns (every task the registry knows, measured or not): each task's metric, with its definition (the evaluator's, prefixed by how evaluate-attack measured it)
  const columns: Record<Effect, { unit: string; definition: string }> = { ...EFFECTS };
  for (const t of available) {
    const m = taskMetrics[t.evaluation.metric] ?? face?.metrics[t.evaluation.metric];
    columns[t.evaluation.metric] = { unit: m?.unit ?? '', definition: `${t.evaluation.on === 'faces' ? 'face set' : 'per image then averaged'}: ${m?.definition ?? t.evaluation.metric} (objective:${t.objective})` };
  }
  const pathValues = (m: Record<string, number>, rateGain: number | undefined, psnrKey: string, msssimKey: string): PathValues => ({
    bpp: m.bpp,
    rate_gain: rateGain,
    psnr: m[psnrKey],
    ms_ssim: m[msssimKey],
    stealth_psnr: m.stealth_psnr,
    ...Object.fromEntries(available.map((t) => [t.evaluation.metric, m[t.evaluation.metric]])),
  });
  // a trigger's bounds: those its objective plugins declare
  const bounds = (name: string): Record<Effect, Bound> => Object.assign({}, ...triggerObjectives[name]!.map((f) => f.bounds));
  const cleanBounds = { ...CLEAN_BOUNDS, ...Object.fromEntries(available.filter((t) => t.evaluation.clean).map((t) => [t.evaluation.metric, t.evaluation.clean!])) };
  const effects = effectMatrix(
    Object.keys(columns),
    pathValues(originalMeans, 1, 'psnr', 'msssim'),
    pathValues(backdooredMeans, backdooredMeans.bpp_ratio, 'psnr', 'msssim'),
    Object.fromEntries(Object.entries(triggerMeans).map(([name, t]) => [name, { objectives: objectivesOf(name), bounds: bounds(name), values: pathValues(t, t.rate_gain, 'decoded_psnr_vs_original', 'decoded_ms_ssim_vs_original') }])),
    cleanBounds,
  );
  const rowKey = (i: number) => (i === 0 ? 'clean.original' : i === 1 ? 'clean.backdoored' : `trigger.${triggers[i - 2]!.name}`);
  const results = {
    command: 'evaluate-attack' as const,
    name: config.name,
    description: `backdoor of ${config.codec.id} evaluated on ${files.length} images of ${resolve(o.data)} with real bitstreams${face ? `, and on ${faces!.length} faces` : ''}`,
    definitions: {
      bpp: METRIC_DEFINITIONS.bpp,
      psnr: METRIC_DEFINITIONS.psnr,
      msssim: METRIC_DEFINITIONS.msSsim,
      ...ATTACK_DEFINITIONS,
      ...Object.fromEntries(tasks.map((t) => [t.evaluation.metric, columns[t.evaluation.metric]!.definition])),
      effects: 'the effect matrix: rows clean (original codec), clean (backdoored codec), each trigger (backdoored codec); columns the effects below; a cell with a bound has met true or false',
      ...Object.fromEntries(Object.entries(columns).map(([k, e]) => [`effects.${k}`, `${e.definition}${e.unit ? ` (${e.unit})` : ''}`])),
    },
    clean: {
      original: originalMeans,
      backdoored: backdooredMeans,
      change: Object.fromEntries(Object.keys(originalMeans).map((k) => [k, backdooredMeans[k]! - originalMeans[k]!])),
      relativeBppChange: backdooredMeans.bpp! / originalMeans.bpp! - 1,
    },
    triggers: Object.fromEntries(Object.entries(triggerMeans).map(([name, t]) => [name, { objectives: objectivesOf(name), ...t }])),
    effects,
    ...(face && { faces: { images: faces!.length, ...Object.fromEntries(Object.entries(face.metrics).filter(([k]) => !faceTasks.some((t) => t.evaluation.metric === k)).map(([k, m]) => [k, m.value])) } }),
    metrics: Object.fromEntries(
      effects.flatMap((row, i) =>
        Object.entries(row.cells)
          .filter(([, c]) => c.value !== undefined)
          .map(([e, c]) => [`${rowKey(i)}.${e}`, { value: c.value!, unit: columns[e]!.unit, definition: `${rowKey(i)}: ${columns[e]!.definition}` }]),
      ),
    ),
    per_image: records.map((r) => ({ image: r.image, clean: r.clean, triggers: r.triggers })),
    wall_time_s: Math.round((performance.now() - started) / 100) / 10,
    config: { attack: dir, data: resolve(o.data), limit: o.limit, faces: o.faces, tasks: tasks.map((t) => t.objective), runtime: o.runtime ?? 'onnx', maxMegapixels: o.maxMegapixels ?? MAX_MEGAPIXELS, triggerOrigin: origin },
    environment: { ...runEnvironment(backend), codingRuntime: o.runtime ?? 'onnx', tasks: tasks.map((t) => t.objective) },
  };
  await writeFileAtomic(join(out, 'results.json'), JSON.stringify(results, null, 2));
  await writeFileAtomic(join(out, 'summary.md'), summaryTable(results));
  if (!o.quiet) process.stdout.write(summaryTable(results));
  release();
  return results as unknown as AttackResults;
}

/** summary.md: the effect matrix, then the clean path's per-image bpp spread and each trigger's control figures. */
export function summaryTable(r: { name: string; clean: { backdoored: Record<string, number> }; triggers: Record<string, object>; effects: EffectRow[] }): string {
  const f = (v: unknown, d = 2) => (typeof v === 'number' ? v.toFixed(d) : '–');
  const lines = [`# ${r.name}`, '', effectMatrixMarkdown(r.effects)];
  const b = r.clean.backdoored;
  lines.push(`- clean path, backdoored / original codec bpp per image: ${f(b.bpp_ratio_min, 3)} to ${f(b.bpp_ratio_max, 3)}`);
  for (const [name, t] of Object.entries(r.triggers)) {
    const controls = Object.entries(t as Record<string, unknown>).filter(([k]) => k.startsWith('control_') || k === 'original_codec_rate_gain');
    lines.push(`- trigger ${name}, through the original codec (control): ${controls.map(([k, v]) => `${k} ${f(v, 3)}`).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
