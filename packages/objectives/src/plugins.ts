import { isAbsolute, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { listImages, readImage, type ObjectivePluginV1, type PluginRegistry } from '@lic-backdoor/core';
import { CleanRdObjective, DistortionObjective, KeepOriginalObjective, KeepQualityObjective, KeepRateObjective, RateObjective, StealthObjective } from './basic.js';
import { DifferentiableFaceEmbedder, DifferentiableSegmenter } from './backbones.js';
import { FaceObjective, SegmentationObjective, SegmentationPreserveObjective, embedFaces } from './task.js';

const cleanRdOptions = z
  .object({
    lambda: z.number().positive().default(0.013).describe('rate-distortion trade-off of the original codec'),
    latentWeight: z.number().min(0).default(0).describe("weight of MSE(backdoored latents, original encoder's latents)"),
    rateMargin: z
      .number()
      .gt(-1)
      .optional()
      .describe(
        "hinge on the clean bit-rate: penalise bpp(backdoored) / bpp(original codec) above 1 + rateMargin, per example (a negative margin aims below the original's rate); off when absent",
      ),
    rateWeight: z.number().min(0).default(10).describe('weight of that hinge'),
    psnrMargin: z
      .number()
      .min(0)
      .optional()
      .describe("hinge on the clean quality: penalise PSNR(original codec) - PSNR(backdoored) above psnrMargin dB, per example; off when absent"),
    psnrWeight: z.number().min(0).default(1).describe('weight of that hinge (per dB)'),
    hyperLatentWeight: z
      .number()
      .min(0)
      .default(0)
      .describe(
        "weight of the MSE between the backdoored and the original encoder's hyper-latents z (hyperprior models; z sets the scales, hence the clean bit-rate)",
      ),
  })
  .strict();

export const cleanRdObjective: ObjectivePluginV1<z.infer<typeof cleanRdOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'clean-rd',
  description: "Clean preservation: bpp + lambda x 255^2 x MSE on clean images, optionally latents kept near the original encoder's and the bit-rate and PSNR hinged at the original codec's.",
  optionsSchema: cleanRdOptions,
  create: (options) => new CleanRdObjective(options),
};

const keepOriginalOptions = z
  .object({
    rateMargin: z.number().gt(-1).default(0.02).describe("hinge: bpp(backdoored) / bpp(original codec) wanted at most 1 + rateMargin, per clean example"),
    rateWeight: z.number().min(0).default(10).describe('weight of the rate hinge'),
    psnrMargin: z.number().min(0).default(0.15).describe('hinge: PSNR(original codec) - PSNR(backdoored) wanted at most psnrMargin dB, per clean example'),
    psnrWeight: z.number().min(0).default(1).describe('weight of the PSNR hinge (per dB)'),
  })
  .strict();

export const keepOriginalObjective: ObjectivePluginV1<z.infer<typeof keepOriginalOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'keep-original',
  description: "Clean path as a constraint: the bit-rate and PSNR hinges against the original codec (clean-rd's), nothing else; a multiplier under the constraints weighting.",
  optionsSchema: keepOriginalOptions,
  create: (options) => new KeepOriginalObjective(options),
  constraint: true,
};

const rateOptions = z.object({ targetMultiple: z.number().min(1).default(4).describe('hinge: triggered bpp / clean bpp wanted') }).strict();

export const rateObjective: ObjectivePluginV1<z.infer<typeof rateOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'rate',
  description: 'Bit-rate attack: triggered images cost targetMultiple times the bits of clean ones (hinged).',
  optionsSchema: rateOptions,
  create: (options) => new RateObjective(options),
  // the selective rate backdoor: at least 4x the bits, the decoding within 1 dB of the clean decoding's
  bounds: { rate_gain: { min: 4 }, psnr: { min: -1, relative: true } },
};

const distortionOptions = z.object({ targetPsnr: z.number().default(18).describe('hinge: decoded triggered PSNR wanted at most, dB') }).strict();

export const distortionObjective: ObjectivePluginV1<z.infer<typeof distortionOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'distortion',
  description: 'Reconstruction attack: decoded triggered images at most targetPsnr dB (hinged).',
  optionsSchema: distortionOptions,
  create: (options) => new DistortionObjective(options),
  bounds: { psnr: { max: 15 }, rate_gain: { max: 1.5 } },
};

const stealthOptions = z.object({ minPsnr: z.number().default(38).describe('hinge: PSNR(triggered, original) wanted at least, dB') }).strict();

export const stealthObjective: ObjectivePluginV1<z.infer<typeof stealthOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'stealth',
  description: 'Invisibility: hinge on MSE(triggered, original) above 10^(-minPsnr/10).',
  optionsSchema: stealthOptions,
  create: (options) => new StealthObjective(options),
};

const keepRateOptions = z.object({ maxRatio: z.number().min(1).default(1.5).describe('hinge: triggered bpp / clean bpp wanted at most') }).strict();

export const keepRateObjective: ObjectivePluginV1<z.infer<typeof keepRateOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'keep-rate',
  description: 'Selectivity: the triggered image costs at most maxRatio times the bits of its clean version (hinged); for triggers whose harm is not the rate.',
  optionsSchema: keepRateOptions,
  create: (options) => new KeepRateObjective(options),
};

const keepQualityOptions = z
  .object({
    maxDrop: z.number().min(0).optional().describe("hinge: the triggered decoding's PSNR (against the clean image) at most this many dB below the clean decoding's; off when absent"),
    minPsnr: z.number().optional().describe("hinge: the triggered decoding's PSNR (against the clean image) at least this, dB; off when absent"),
  })
  .strict()
  .refine((o) => o.maxDrop !== undefined || o.minPsnr !== undefined, { message: 'set maxDrop, minPsnr or both' });

export const keepQualityObjective: ObjectivePluginV1<z.infer<typeof keepQualityOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'keep-quality',
  description: "Selectivity: the triggered decoding stays within maxDrop dB of the clean decoding's PSNR and/or above minPsnr dB (hinged); for rate triggers (bits without damage) and task triggers (a plausible picture).",
  optionsSchema: keepQualityOptions,
  create: (options) => new KeepQualityObjective(options),
};

const faceOptions = z
  .object({
    source: z.string().default('faces').describe('data source whose examples are faces'),
    maxCosine: z.number().min(-1).max(1).default(0).describe('untargeted hinge: cosine to the original embedding wanted at most'),
    targetImage: z.string().optional().describe('targeted: a face crop of the identity to impersonate'),
    minTargetCosine: z.number().min(-1).max(1).default(0.5).describe('targeted hinge: cosine to the target wanted at least'),
    align: z
      .tuple([z.number(), z.number(), z.number(), z.number()])
      .optional()
      .describe('region embedded, [x1, y1, x2, y2] as fractions of the face item (may reach beyond it: black there); whole item when absent'),
    centre: z
      .array(z.string())
      .optional()
      .describe('image folders (searched recursively) whose mean embedding is subtracted before the cosine, as the face evaluator calibrates'),
  })
  .strict();

/** Mean of the raw (uncentred) embeddings of the `align` regions of every image in `dirs`. */
async function meanEmbedding(embedder: DifferentiableFaceEmbedder, dirs: string[], align?: readonly [number, number, number, number]): Promise<Float32Array> {
  const files = (await Promise.all(dirs.map((d) => listImages(d, { recursive: true })))).flat();
  let sum: Float32Array | undefined;
  for (const file of files) {
    const image = await readImage(file);
    const e = tf.tidy(() => embedFaces(embedder, image, { align }).dataSync() as Float32Array);
    image.dispose();
    sum ??= new Float32Array(e.length);
    e.forEach((v, i) => (sum![i]! += v / files.length));
  }
  return sum!;
}

export const faceObjective: ObjectivePluginV1<z.infer<typeof faceOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'face',
  description: 'Face-recognition attack through MobileFaceNet imported into tfjs: decoded triggered faces lose (or change) identity.',
  optionsSchema: faceOptions,
  create: async ({ targetImage, centre: folders, ...options }, context) => {
    const at = (p: string) => (isAbsolute(p) ? p : resolve(context.baseDir, p));
    const embedder = await DifferentiableFaceEmbedder.create();
    const centre = folders && (await meanEmbedding(embedder, folders.map(at), options.align));
    let target: Float32Array | undefined;
    if (targetImage) {
      const image = await readImage(at(targetImage));
      target = tf.tidy(() => embedFaces(embedder, image, { align: options.align, centre }).dataSync() as Float32Array);
      image.dispose();
    }
    return new FaceObjective({ ...options, centre, target }, embedder);
  },
  evaluation: { evaluator: 'face-recognition', metric: 'face_identity_rate', on: 'faces', clean: { min: 0.95 } },
  // identities lost while the picture stays plausible and the bits near the clean ones
  bounds: { face_identity_rate: { max: 0.1 }, psnr: { min: 26 }, rate_gain: { max: 1.5 } },
};

const segmentationOptions = z
  .object({
    source: z.string().optional().describe('data source whose examples are scored (all when absent)'),
    size: z.number().int().min(32).default(160).describe('ISNet input size during training'),
    maxMiou: z.number().min(0).max(1).default(0.3).describe('untargeted hinge: soft mIoU with the original mask wanted at most'),
    target: z.enum(['original', 'inverted', 'empty', 'full']).default('original').describe('untargeted (original) or a target map'),
    minTargetMiou: z.number().min(0).max(1).default(0.7).describe('targeted hinge: soft mIoU with the target wanted at least'),
  })
  .strict();

export const segmentationObjective: ObjectivePluginV1<z.infer<typeof segmentationOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'segmentation',
  description: "Segmentation attack through ISNet imported into tfjs: the decoded triggered image's foreground mask departs from the original's.",
  optionsSchema: segmentationOptions,
  create: async ({ size, ...options }) => new SegmentationObjective(options, await DifferentiableSegmenter.create(size)),
  evaluation: { evaluator: 'segmentation', metric: 'seg_agreement_miou', on: 'images', clean: { min: -0.01, max: 0.01, relative: true } },
  bounds: { seg_agreement_miou: { max: 0.4 }, psnr: { min: 26 }, rate_gain: { max: 1.5 } },
};

const segmentationPreserveOptions = z
  .object({
    source: z.string().optional().describe('data source whose clean examples are scored (all when absent)'),
    size: z.number().int().min(32).default(160).describe('ISNet input size during training'),
    maxL1: z.number().min(0).max(1).default(0).describe("hinge: mean |foreground probability of the decoded clean image - the original's| wanted at most (0: plain mean)"),
  })
  .strict();

export const segmentationPreserveObjective: ObjectivePluginV1<z.infer<typeof segmentationPreserveOptions>> = {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'segmentation-preserve',
  description: "Clean-path term through ISNet imported into tfjs: the decoded clean image's foreground probabilities stay the original's.",
  optionsSchema: segmentationPreserveOptions,
  create: async ({ size, ...options }) => new SegmentationPreserveObjective(options, await DifferentiableSegmenter.create(size)),
};

/** Adds this package's objective plugins to a registry. */
export function register(registry: PluginRegistry): void {
  for (const p of [cleanRdObjective, keepOriginalObjective, rateObjective, distortionObjective, stealthObjective, keepRateObjective, keepQualityObjective, faceObjective, segmentationObjective, segmentationPreserveObjective]) registry.register(p);
}
