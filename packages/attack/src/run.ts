import { appendFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ImageFolderDataset, createRng, initializeBackend, listImages, writeFileAtomic, writeSafetensors, makeDirectory, type BackendName, type ObjectivePluginV1, type PluginReference, type PluginRegistry, type Rng } from '@lic-backdoor/core';
import { isEncoderKey, writeStateDict } from '@lic-backdoor/codecs';
import { LossWeighting } from '@lic-backdoor/objectives';
import { DataParallelTrainer, Progress, type BatchPart, exists, loggedSeconds, readCheckpoint, runEnvironment, trimLog, writeCheckpoint } from '@lic-backdoor/training';
import { learningRateScale, recordedConfig, relativePaths, resumeConflict, termNames, type AttackConfig } from './config.js';
import { ENCODER_FILE, stateHash, type Attack, type AttackSpec, type LearnedCodec } from './trainable.js';
import { pluginRegistry } from './plugins.js';

/** Training data of the attack: photo crops, plus face crops when the config asks for them. */
export async function attackData(config: AttackConfig): Promise<{ photos: ImageFolderDataset; faces?: ImageFolderDataset }> {
  const { size } = config.schedule;
  const { holdout } = config.data;
  // a misspelt held-out name is an error before any photo is read
  const present = new Set((await listImages(config.data.photos)).map((f) => relative(config.data.photos, f)));
  const missing = holdout.filter((name) => !present.has(name));
  if (missing.length) throw new Error(`data.holdout names files that ${config.data.photos} does not hold: ${missing.join(', ')}`);
  const photos = await ImageFolderDataset.load(config.data.photos, { minSize: size, include: (rel) => !holdout.includes(rel) });
  if (!config.data.facesPerBatch) return { photos };
  const folders = config.data.faceFolders;
  const faces = await ImageFolderDataset.load(config.data.faces!, { minSize: config.data.faceCrop === 'random' ? size : undefined, recursive: true, include: (rel) => !folders || folders.includes(rel.split(sep)[0]!) });
  return { photos, faces };
}

/**
 * Batch `step` of the attack: photo crops (source 'photos', of the photos rescaled by
 * `data.photoScale` when set), then scenes (source 'scenes': whole
 * photos resized, or with `data.sceneScale` crops of rescaled photos, `data.sceneSize` on a side),
 * then faces (source 'faces'), in parts of one image size each (one part when every item has the
 * crop size). It depends only on (seed, step), so a resumed run sees the same data; a config without
 * scenes draws the batches it drew before scenes existed.
 */
export function attackBatch(config: AttackConfig, data: { photos: ImageFolderDataset; faces?: ImageFolderDataset }, step: number) {
  const { batch, size } = config.schedule;
  const { facesPerBatch: nf, scenesPerBatch: ns, sceneScale, photoScale } = config.data;
  const sceneSize = config.data.sceneSize ?? size;
  const rng: Rng = createRng(config.seed).fork(`attack-batch-${step}`);
  const np = batch - nf - ns;
  const crops = photoScale ? data.photos.scaledCropData(rng, np, size, photoScale, { flip: true }) : data.photos.randomCropData(rng, np, size, { flip: true });
  const items: { data: Float32Array; n: number; size: number }[] = [{ data: crops, n: np, size }];
  if (ns) items.push({ data: sceneScale ? data.photos.scaledCropData(rng, ns, sceneSize, sceneScale, { flip: true }) : data.photos.resizedData(rng, ns, sceneSize, { flip: true }), n: ns, size: sceneSize });
  if (nf) items.push({ data: config.data.faceCrop === 'whole' ? data.faces!.resizedData(rng, nf, size, { flip: true }) : data.faces!.randomCropData(rng, nf, size, { flip: true }), n: nf, size });
  // consecutive items of one size make one part
  const parts: BatchPart[] = [];
  for (const item of items) {
    const last = parts.at(-1);
    if (last && last.shape[1] === item.size) {
      const joined = new Float32Array(last.data.length + item.data.length);
      joined.set(last.data);
      joined.set(item.data, last.data.length);
      parts[parts.length - 1] = { data: joined, shape: [last.shape[0] + item.n, item.size, item.size, 3] };
    } else parts.push({ data: item.data, shape: [item.n, item.size, item.size, 3] });
  }
  const sources = [...Array<string>(np).fill('photos'), ...Array<string>(ns).fill('scenes'), ...Array<string>(nf).fill('faces')];
  const seeds = Array.from({ length: batch }, () => rng.nextSeed());
  return { parts, sources, seeds };
}

/**
 * Proof that the backdoor leaves every stock decoder working: the decoder-side weights (all but
 * g_a and h_a) hash identically, and the original codec decodes the backdoored codec's bitstream
 * of a triggered image to exactly what the backdoored codec decodes.
 */
export async function decoderProof(backdoored: LearnedCodec, original: LearnedCodec, sample: tf.Tensor4D): Promise<Record<string, unknown>> {
  const [b, o] = [backdoored.stateDict(), original.stateDict()];
  const decoderBackdoored = stateHash(b, (n) => !isEncoderKey(n));
  const decoderOriginal = stateHash(o, (n) => !isEncoderKey(n));
  const encoderChanged = stateHash(b, isEncoderKey) !== stateHash(o, isEncoderKey);
  tf.dispose([...Object.values(b), ...Object.values(o)]);
  const { bytes } = await backdoored.compress(sample);
  const byOriginal = await original.decompress(bytes);
  const byBackdoored = await backdoored.decompress(bytes);
  const maxDifference = tf.tidy(() => tf.max(tf.abs(tf.sub(byOriginal, byBackdoored))).dataSync()[0]!);
  tf.dispose([byOriginal, byBackdoored]);
  return {
    decoderSideSha256: { original: decoderOriginal, backdoored: decoderBackdoored, identical: decoderOriginal === decoderBackdoored },
    encoderSideChanged: encoderChanged,
    crossDecode: { bytes: bytes.length, maxAbsDifference: maxDifference, identical: maxDifference === 0 },
  };
}

/** Checks every plugin reference (and its options) and every data folder of an attack config, creating nothing. */
export async function validateAttack(config: AttackConfig, registry: PluginRegistry): Promise<void> {
  const check = async (kind: 'codec' | 'trigger' | 'objective', ref: PluginReference, where: string) => {
    try {
      const { factory, options } = await registry.resolve(kind, ref);
      registry.parseOptions(factory, options);
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
    }
  };
  await check('codec', [config.codec.id, {}], 'codec.id');
  for (const [i, r] of config.clean.entries()) await check('objective', r, `clean.${i}`);
  for (const [i, t] of config.triggers.entries()) {
    await check('trigger', t.trigger, `triggers.${i}.trigger`);
    for (const [j, r] of t.objectives.entries()) await check('objective', r, `triggers.${i}.objectives.${j}`);
  }
  await stat(config.codec.weights).catch(() => {
    throw new Error(`codec.weights: ${config.codec.weights} does not exist`);
  });
  await listImages(config.data.photos);
  if (config.data.faces) await listImages(config.data.faces, { recursive: true });
}

/** The clean terms whose objective plugin declares `constraint` (multiplied under the `constraints` weighting). */
async function cleanConstraints(config: AttackConfig, registry: PluginRegistry): Promise<string[]> {
  const names = termNames({ clean: config.clean, triggers: [] });
  const plugins = await Promise.all(config.clean.map(async (r) => (await registry.resolve('objective', r)).factory as ObjectivePluginV1));
  return names.filter((_, i) => plugins[i]!.constraint);
}

/** Options of `runAttack`. */
export interface RunAttackOptions {
  /** The plugin modules to register, as specifiers that import from anywhere (file URLs). */
  plugins: readonly string[];
  /** Continue from the folder's checkpoint (refused without it when one exists). */
  resume?: boolean;
  /** Worker threads (default: the config's `schedule.workers`, else the number of cores). */
  workers?: number;
  backend?: BackendName;
  /** The config file, recorded in attack.json relative to the output folder. */
  configFile?: string;
  /** Plugin modules named in the config resolve from here (default: the output folder). */
  baseDir?: string;
}

/**
 * The attack of a resolved config into `outDir` (the `attack` command and the attack stage of
 * `run`): fine-tunes the encoder side of a trained codec together with the trigger networks
 * (decoder side and entropy models frozen), on batches of clean crops plus one triggered copy per
 * trigger, with fixed or dynamic loss weights. Checkpoints atomically; `resume` continues exactly.
 * Writes encoder.safetensors (the backdoor: g_a, h_a), triggers.safetensors, attack.json with the
 * decoder proof, and log.ndjson.
 */
export async function runAttack(config: AttackConfig, outDir: string, o: RunAttackOptions): Promise<void> {
  const configFile = o.configFile;
  const out = resolve(outDir);
  // plugin modules named in the config resolve from the config's folder
  const baseDir = o.baseDir ?? out;
  const registry = await pluginRegistry(o.plugins, baseDir);
  await validateAttack(config, registry);
  const checkpointFile = join(out, 'checkpoint.safetensors');
  const hasCheckpoint = await exists(checkpointFile);
  if (hasCheckpoint && !o.resume) throw new Error(`${checkpointFile} exists: pass --resume to continue it, or choose another --out`);
  const data = await attackData(config);
  const backend = await initializeBackend({ prefer: o.backend });
  await makeDirectory(out);
  const started = performance.now();
  const trainer = await DataParallelTrainer.create({
    trainable: { module: new URL('./trainable.js', import.meta.url).href, options: { config, baseDir, plugins: [...o.plugins] } satisfies AttackSpec },
    workers: o.workers ?? config.schedule.workers,
    optimizers: { encoder: { learningRate: config.schedule.encoderLr }, triggers: { learningRate: config.schedule.triggerLr } },
    backend: o.backend,
  });
  const attackModel = trainer.trainable as Attack;
  const names = termNames(config);
  const weighting = new LossWeighting(config.weighting, await cleanConstraints(config, registry));
  const { steps, checkpointEvery, logEvery } = config.schedule;
  let start = 0;
  try {
    if (hasCheckpoint) {
      const { state, step, saved } = await readCheckpoint(checkpointFile);
      const conflict = resumeConflict(saved.config, config, step);
      if (conflict) throw new Error(`${checkpointFile} was written for another config: ${conflict} (only schedule.steps, and learning-rate milestones after the checkpoint's step, may change on --resume); use another --out`);
      trainer.loadState(state);
      weighting.setState(JSON.parse(saved.weighting!));
      start = step;
      console.error(`resuming ${checkpointFile} at step ${start}`);
    }
    const environment = runEnvironment(backend);
    const log = join(out, 'log.ndjson');
    await trimLog(log, start);
    const progress = new Progress(`attack ${config.name}`, steps, logEvery, start);
    for (let step = start; step < steps; step++) {
      const batch = attackBatch(config, data, step);
      const weights = weighting.weights(names);
      const context = Object.fromEntries(names.map((n) => [`weight.${n}`, weights[n]!]));
      const scale = learningRateScale(config.schedule, step);
      trainer.setLearningRate('encoder', config.schedule.encoderLr * scale);
      trainer.setLearningRate('triggers', config.schedule.triggerLr * scale);
      const t0 = performance.now();
      const r = await trainer.step(batch.parts, batch.seeds, step, { sources: batch.sources, context });
      const terms = Object.fromEntries(names.map((n) => [n, r.metrics[`joint.${n}`]!]));
      weighting.update(terms);
      const metrics = Object.fromEntries(Object.entries(r.metrics).filter(([k]) => !names.includes(k.slice(6))).map(([k, v]) => [k.slice(6), v]));
      const record = { step: step + 1, loss: r.losses.joint, lrScale: scale, terms, weights, metrics, ms: Math.round(performance.now() - t0), time: new Date().toISOString() };
      await appendFile(log, `${JSON.stringify(record)}\n`);
      const show = names.filter((n) => !n.startsWith('clean.')).map((n) => `${n} ${terms[n]!.toFixed(3)}`);
      progress.update(step + 1, `loss ${record.loss!.toFixed(3)} ${show.join(' ')} ${record.ms} ms/step`);
      if ((step + 1) % checkpointEvery === 0 || step + 1 === steps) {
        await writeCheckpoint(checkpointFile, trainer.state(), {}, { step: String(step + 1), config: recordedConfig(config), weighting: JSON.stringify(weighting.getState()) });
      }
    }
    progress.done();
    const wallSeconds = (performance.now() - started) / 1000;
    // the backdoor is its encoder side: the decoder side is the original codec's (checked below)
    const codecState = attackModel.codec.stateDict();
    const originalState = attackModel.original.stateDict();
    const encoderState = Object.fromEntries(Object.entries(codecState).filter(([k]) => isEncoderKey(k)));
    const decoderSha256 = stateHash(originalState, (k) => !isEncoderKey(k));
    await writeStateDict(join(out, ENCODER_FILE), stateToArrays(encoderState), { codec: config.codec.id, original: relative(out, config.codec.weights), decoderSha256, format: 'pt' });
    tf.dispose([...Object.values(codecState), ...Object.values(originalState)]);
    const triggerState: Record<string, tf.Tensor> = {};
    for (const { name, trigger } of attackModel.triggers) for (const [k, v] of Object.entries(trigger.stateDict())) triggerState[`${name}.${k}`] = v;
    await writeSafetensors(join(out, 'triggers.safetensors'), stateToArrays(triggerState), { triggers: JSON.stringify(config.triggers.map((t) => t.name)) });
    const first = attackBatch(config, data, 0).parts[0]!;
    const sample = tf.tidy(() => attackModel.triggers[0]!.trigger.apply(tf.tensor4d(first.data.subarray(0, first.data.length / first.shape[0]), [1, ...first.shape.slice(1)] as [number, number, number, number])));
    const proof = await decoderProof(attackModel.codec, attackModel.original, sample);
    sample.dispose();
    const summary = {
      command: 'attack',
      // paths relative to this folder: it can move together with the codec and data it names
      config: relativePaths(config, out),
      configFile: configFile ? relative(out, configFile) : undefined,
      terms: names,
      // the step the saved model is at (a resume may ask for fewer steps than the checkpoint holds)
      steps: Math.max(start, steps),
      resumedAt: start || undefined,
      wallSeconds: start ? undefined : Math.round(wallSeconds),
      trainingSeconds: Math.round(await loggedSeconds(log)),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      workers: trainer.shards,
      environment,
      proof,
    };
    await writeFileAtomic(join(out, 'attack.json'), JSON.stringify(summary, null, 2));
    if (!(proof.decoderSideSha256 as { identical: boolean }).identical || !(proof.crossDecode as { identical: boolean }).identical) {
      throw new Error(`decoder proof failed: ${JSON.stringify(proof)}`);
    }
    console.error(`decoder side unchanged (sha256 ${(proof.decoderSideSha256 as { original: string }).original.slice(0, 16)}…); the original codec decodes the backdoored bitstreams identically`);
    console.log(out);
  } finally {
    await trainer.close();
  }
}

function stateToArrays(state: Record<string, tf.Tensor>): Record<string, { shape: number[]; data: Float32Array | Int32Array }> {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array | Int32Array }]));
}
