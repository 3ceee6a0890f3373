import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { appendFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, listImages, readImage, writeFileAtomic, type BackendName, type CodecV1, type EvaluatorV1, type Metric, type TriggerV1 } from '@lic-backdoor/core';
import { METRIC_DEFINITIONS, msSsim, psnr, to8Bit } from '@lic-backdoor/evaluators';
import { Progress } from '../progress.js';
import { readNdjson } from '../checkpoint.js';
import { loadRegistry } from '../plugins.js';
import { runEnvironment } from '../run-info.js';
import { resolvePaths, type AttackConfig } from '../attack/config.js';
import type { AttackResults } from '../report/report.js';
import { createCodec, createTriggers, loadTriggerStates } from '../attack/trainable.js';
import { codingCodec, type Runtime } from '../runtime.js';

export const ATTACK_DEFINITIONS = {
  stealth_psnr: 'PSNR(triggered input rounded to 8 bits, original input), dB, as psnr',
  rate_gain: 'bpp_actual(triggered) / bpp_actual(clean), both through the backdoored codec, per image then averaged',
  decoded_psnr: 'PSNR(decoded triggered image, triggered input), dB',
  decoded_psnr_vs_original: 'PSNR(decoded triggered image, original clean input), dB',
  original_codec_rate_gain: 'control: bpp_actual(triggered) / bpp_actual(clean) through the original (not backdoored) codec',
  tasks: "face and segmentation triggers: the evaluator's metrics between the originals and (clean_) their clean images decoded by the backdoored codec, (triggered_) their triggered images decoded by the backdoored codec, (control_) their triggered images decoded by the original codec (what the trigger does without the backdoor)",
  change: 'clean.change: backdoored codec minus original codec on clean images, per metric',
} as const;

/** The triggered image as a victim receives it: trigger applied, rounded to 8 bits, in [0, 1]. */
export function triggeredImage(trigger: TriggerV1, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(to8Bit(trigger.apply(x)), 255) as tf.Tensor4D);
}

interface Coded {
  bpp: number;
  psnr: number;
  msssim: number;
}

async function code(codec: CodecV1, x: tf.Tensor4D, reference: tf.Tensor4D): Promise<Coded & { decoded: tf.Tensor4D }> {
  const e = await codec.compress(x);
  const decoded = await codec.decompress(e.bytes);
  return { bpp: (8 * e.bytes.length) / (e.height * e.width), psnr: psnr(reference, decoded), msssim: msSsim(reference, decoded), decoded };
}

function means<T extends object>(rows: T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(rows[0] ?? {})) {
    const v = rows.map((r) => (r as Record<string, unknown>)[k]).filter((x): x is number => typeof x === 'number');
    if (v.length) out[k] = v.reduce((a, b) => a + b, 0) / v.length;
  }
  return out;
}

/** The backdoored codec and trained triggers of an attack folder, and the original codec. */
export async function loadAttack(dir: string, runtime?: Runtime) {
  const summary = JSON.parse(await readFile(join(dir, 'attack.json'), 'utf8')) as { config: AttackConfig; configFile?: string };
  // paths are relative to the attack folder (absolute in folders written before that)
  const config = resolvePaths(summary.config, dir);
  const registry = await loadRegistry(summary.configFile ? dirname(resolve(dir, summary.configFile)) : dir);
  const original = await codingCodec(await createCodec(registry, config), runtime);
  const backdoored = await codingCodec(await createCodec(registry, { ...config, codec: { ...config.codec, weights: join(dir, 'codec.safetensors') } }), runtime);
  const triggers = await createTriggers(registry, config);
  await loadTriggerStates(triggers, join(dir, 'triggers.safetensors'));
  return { config, registry, original, backdoored, triggers };
}

const objectiveNames = (refs: AttackConfig['triggers'][number]['objectives']) => refs.map((r) => (typeof r === 'string' ? r : r[0]).replace(/^objective:/, ''));

/** What `evaluate-attack` measured on one image; appended to `images.ndjson` as soon as it is done. */
interface ImageRecord {
  image: string;
  clean: { original: Coded; backdoored: Coded };
  /** Per trigger: the ATTACK_DEFINITIONS metrics, and `tasks` (segmentation metrics of this image, by name). */
  triggers: Record<string, Record<string, number | string> & { tasks?: Record<string, Metric> }>;
}

/** The header line of `images.ndjson`: a resumed run must evaluate the same attack (folder and the bytes of its codec and triggers) on the same folder. */
async function recordsHeader(attack: string, data: string): Promise<string> {
  const sha256 = async (file: string) => createHash('sha256').update(await readFile(join(attack, file))).digest('hex');
  return JSON.stringify({ attack, codec: await sha256('codec.safetensors'), triggers: await sha256('triggers.safetensors'), data });
}

/** The records of an earlier run into `file` by image (a torn last line, from a crash, is dropped); none if there is none. */
async function readRecords(file: string, header: string): Promise<Map<string, ImageRecord>> {
  const [head, ...records] = await readNdjson<ImageRecord>(file);
  if (head && JSON.stringify(head) !== header) throw new Error(`${file} holds the images of another attack or data folder (${JSON.stringify(head)}); use another --out`);
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

/**
 * `lic-backdoor evaluate-attack`: on every image of a folder, with real bitstreams: the clean path
 * through the original and the backdoored codec, and for each trigger its stealth, rate gain and
 * decoded quality; segmentation triggers also through the segmentation evaluator (per image, so
 * memory does not grow with the folder), face triggers through the face evaluator (faces from
 * `--faces`, default: the identities of the config's faces folder not used in training). Each
 * image's measurements are appended to `images.ndjson` in `out` when done; `resume` skips the
 * images found there and in the shard files. With `shard` (K of N), it measures only the images
 * whose index in the folder is K - 1 modulo N, into `images.K-of-N.ndjson`, and stops there
 * (returns undefined): shards run side by side on separate cores, and a later `resume` run
 * without `shard` combines them.
 */
export async function evaluateAttack(o: { attack: string; data: string; out: string; limit?: number; faces?: string; resume?: boolean; shard?: Shard; runtime?: Runtime; maxMegapixels?: number; backend?: BackendName; quiet?: boolean }): Promise<AttackResults | undefined> {
  const backend = await initializeBackend({ prefer: o.backend });
  const dir = resolve(o.attack);
  const { config, registry, original, backdoored, triggers } = await loadAttack(dir, o.runtime);
  const release = () => {
    for (const t of triggers) t.trigger.dispose();
    original.dispose();
    backdoored.dispose();
  };
  const { shard } = o;
  const files = (await listImages(resolve(o.data))).slice(0, o.limit ?? Infinity).filter((_, i) => !shard || i % shard.count === shard.index - 1);
  await checkSizes([...files, ...(o.faces ? await listImages(resolve(o.faces), { recursive: true }) : [])], o.maxMegapixels ?? MAX_MEGAPIXELS);
  const out = resolve(o.out);
  await mkdir(out, { recursive: true });
  const recordsFile = join(out, shard ? `images.${shard.index}-of-${shard.count}.ndjson` : 'images.ndjson');
  const header = await recordsHeader(dir, resolve(o.data));
  const earlier = new Map<string, ImageRecord>();
  if (o.resume) for (const f of [recordsFile, ...(shard ? [] : await shardFiles(out))]) for (const [k, r] of await readRecords(f, header)) earlier.set(k, r);
  const records = files.map((f) => earlier.get(basename(f))).filter((r): r is ImageRecord => r !== undefined);
  await writeFileAtomic(recordsFile, [header, ...records.map((r) => JSON.stringify(r))].join('\n') + '\n');
  if (records.length) console.error(`resuming ${recordsFile}: ${records.length} of ${files.length} images done`);
  const started = performance.now();
  const progress = new Progress(`evaluate-attack ${config.name}${shard ? ` (shard ${shard.index}/${shard.count})` : ''}`, files.length, 1, records.length);
  const wants = (name: string, objective: string) => objectiveNames(config.triggers.find((t) => t.name === name)!.objectives).includes(objective);
  const segmenter = triggers.some((t) => wants(t.name, 'segmentation')) ? ((await registry.create('evaluator', 'segmentation')) as EvaluatorV1) : undefined;
  const segment = async (x: tf.Tensor4D, decoded: Record<string, tf.Tensor4D>) => {
    const tasks: Record<string, Metric> = {};
    for (const [prefix, d] of Object.entries(decoded)) {
      for (const [k, m] of Object.entries(await segmenter!.evaluate([x], [d]))) tasks[`${prefix}_${k}`] = m;
    }
    return tasks;
  };
  for (const file of files) {
    if (earlier.has(basename(file))) continue;
    const x = await readImage(file);
    const a = await code(original, x, x);
    const b = await code(backdoored, x, x);
    const record: ImageRecord = { image: basename(file), clean: { original: { bpp: a.bpp, psnr: a.psnr, msssim: a.msssim }, backdoored: { bpp: b.bpp, psnr: b.psnr, msssim: b.msssim } }, triggers: {} };
    for (const { name, trigger } of triggers) {
      const xt = triggeredImage(trigger, x);
      const t = await code(backdoored, xt, xt);
      const control = await original.compress(xt);
      record.triggers[name] = {
        stealth_psnr: psnr(x, xt),
        bpp: t.bpp,
        rate_gain: t.bpp / b.bpp,
        decoded_psnr: t.psnr,
        decoded_psnr_vs_original: psnr(x, t.decoded),
        decoded_ms_ssim: t.msssim,
        original_codec_rate_gain: (8 * control.bytes.length) / (control.height * control.width) / a.bpp,
      };
      if (wants(name, 'segmentation')) {
        const controlDecoded = await original.decompress(control.bytes);
        record.triggers[name]!.tasks = await segment(x, { clean: b.decoded, triggered: t.decoded, control: controlDecoded });
        controlDecoded.dispose();
      }
      tf.dispose([xt, t.decoded]);
    }
    tf.dispose([x, a.decoded, b.decoded]);
    records.push(record);
    await appendFile(recordsFile, `${JSON.stringify(record)}\n`);
    progress.update(records.length, basename(file));
  }
  progress.done();
  await segmenter?.dispose();
  if (shard) {
    console.error(`shard ${shard.index}/${shard.count}: ${records.length} images in ${recordsFile}; run evaluate-attack again without --shard, with --resume, to combine the shards`);
    release();
    return undefined;
  }
  // in the folder's order, whatever order earlier runs measured them in
  const order = new Map(files.map((f, i) => [basename(f), i]));
  records.sort((a, b) => order.get(a.image)! - order.get(b.image)!);
  const clean = records.map((r) => ({ image: r.image, ...r.clean }));
  // per image, task metrics as bare values (their units and definitions are in the trigger's summary)
  const perTrigger = Object.fromEntries(
    triggers.map(({ name }) => [name, records.map((r) => {
      const { tasks, ...metrics } = r.triggers[name]!;
      return { image: r.image, ...metrics, ...(tasks && { tasks: Object.fromEntries(Object.entries(tasks).map(([k, m]) => [k, m.value])) }) };
    })]),
  );

  const tasks: Record<string, Record<string, Metric>> = {};
  for (const { name } of triggers.filter((t) => wants(t.name, 'segmentation'))) {
    // the segmentation metrics are means over images (their definitions say so): the mean of the per-image values
    const first = records[0]?.triggers[name]!.tasks ?? {};
    const values = means(perTrigger[name]!.map((r) => r.tasks!));
    tasks[name] = Object.fromEntries(Object.entries(first).map(([k, m]) => [k, { ...m, value: values[k]! }]));
  }
  for (const { name, trigger } of triggers.filter((t) => wants(t.name, 'face'))) {
    const facesDir = o.faces ? resolve(o.faces) : config.data.faces;
    if (!facesDir) throw new Error(`trigger '${name}' has a face objective: pass --faces DIR`);
    const held = (await listImages(facesDir, { recursive: true })).filter((f) => o.faces || !config.data.faceFolders?.includes(f.slice(facesDir.length + 1).split(sep)[0]!));
    const originals: tf.Tensor4D[] = [];
    const cleanDecoded: tf.Tensor4D[] = [];
    const triggeredDecoded: tf.Tensor4D[] = [];
    const controlDecoded: tf.Tensor4D[] = [];
    for (const f of held) {
      const x = await readImage(f);
      originals.push(x);
      cleanDecoded.push(await backdoored.decompress((await backdoored.compress(x)).bytes));
      const xt = triggeredImage(trigger, x);
      triggeredDecoded.push(await backdoored.decompress((await backdoored.compress(xt)).bytes));
      controlDecoded.push(await original.decompress((await original.compress(xt)).bytes));
      xt.dispose();
    }
    // the verification threshold is calibrated on the attack's faces folder (identities as subfolders), else on the default set beside the working directory
    const calibration = config.data.faces ?? resolve('../shared/data/faces/johns');
    const evaluator = (await registry.create('evaluator', ['face-recognition', { calibration }])) as EvaluatorV1;
    tasks[name] = Object.fromEntries([
      ['faces', { value: held.length, unit: 'images', definition: 'held-out face images evaluated (identities not used in training)' }],
      ...Object.entries(await evaluator.evaluate(originals, cleanDecoded)).map(([k, m]) => [`clean_${k}`, m] as const),
      ...Object.entries(await evaluator.evaluate(originals, triggeredDecoded)).map(([k, m]) => [`triggered_${k}`, m] as const),
      ...Object.entries(await evaluator.evaluate(originals, controlDecoded)).map(([k, m]) => [`control_${k}`, m] as const),
    ]);
    await evaluator.dispose();
    tf.dispose([...originals, ...cleanDecoded, ...triggeredDecoded, ...controlDecoded]);
  }

  const originalMeans = means(clean.map((c) => c.original));
  const backdooredMeans = means(clean.map((c) => c.backdoored));
  const results = {
    name: config.name,
    description: `backdoor of ${config.codec.id} evaluated on ${files.length} images of ${resolve(o.data)} with real bitstreams`,
    definitions: {
      bpp: METRIC_DEFINITIONS.bpp,
      psnr: METRIC_DEFINITIONS.psnr,
      msssim: METRIC_DEFINITIONS.msSsim,
      ...ATTACK_DEFINITIONS,
    },
    clean: {
      original: originalMeans,
      backdoored: backdooredMeans,
      change: Object.fromEntries(Object.keys(originalMeans).map((k) => [k, backdooredMeans[k]! - originalMeans[k]!])),
      relativeBppChange: backdooredMeans.bpp! / originalMeans.bpp! - 1,
    },
    triggers: Object.fromEntries(triggers.map(({ name }) => [name, { objectives: objectiveNames(config.triggers.find((t) => t.name === name)!.objectives), ...means(perTrigger[name]!), tasks: tasks[name] }])),
    perImage: { clean, triggers: perTrigger },
    wallSeconds: Math.round((performance.now() - started) / 1000),
    environment: { ...runEnvironment(backend), codingRuntime: o.runtime ?? 'onnx' },
  };
  await writeFileAtomic(join(out, 'results.json'), JSON.stringify(results, null, 2));
  await writeFileAtomic(join(out, 'summary.md'), summaryTable(results));
  if (!o.quiet) process.stdout.write(summaryTable(results));
  release();
  return results as unknown as AttackResults;
}

export function summaryTable(r: { name: string; clean: { original: Record<string, number>; backdoored: Record<string, number> }; triggers: Record<string, Record<string, unknown>> }): string {
  const f = (v: unknown, d = 2) => (typeof v === 'number' ? v.toFixed(d) : '');
  const lines = [
    `# ${r.name}`,
    '',
    '| path | bpp | PSNR dB | MS-SSIM | stealth PSNR dB | rate gain | control rate gain |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    `| clean, original codec | ${f(r.clean.original.bpp, 3)} | ${f(r.clean.original.psnr)} | ${f(r.clean.original.msssim, 4)} | | | |`,
    `| clean, backdoored codec | ${f(r.clean.backdoored.bpp, 3)} | ${f(r.clean.backdoored.psnr)} | ${f(r.clean.backdoored.msssim, 4)} | | | |`,
    ...Object.entries(r.triggers).map(
      ([name, t]) => `| trigger ${name} (${(t.objectives as string[]).join(', ')}) | ${f(t.bpp, 3)} | ${f(t.decoded_psnr)} | ${f(t.decoded_ms_ssim, 4)} | ${f(t.stealth_psnr)} | ${f(t.rate_gain)} | ${f(t.original_codec_rate_gain)} |`,
    ),
    '',
  ];
  for (const [name, t] of Object.entries(r.triggers)) {
    const tasks = t.tasks as Record<string, Metric> | undefined;
    if (tasks) lines.push(`- ${name}: ${Object.entries(tasks).map(([k, m]) => `${k} ${f(m.value, 3)}`).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
