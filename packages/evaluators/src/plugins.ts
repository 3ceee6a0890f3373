import { z } from 'zod';
import type { EvaluatorPluginV1, PluginRegistry } from '@lic-backdoor/core';
import { isAbsolute, resolve } from 'node:path';
import { IsnetSegmenter, SegmentationEvaluator } from './segmentation.js';
import { FacePipeline, FaceRecognitionEvaluator, calibrate, embedFolder } from './face.js';

const segmentationOptions = z
  .object({
    size: z.number().int().min(64).max(1024).multipleOf(32).default(512).describe('ISNet input size (square); below 512 its masks turn ambiguous'),
    threshold: z.number().min(0).max(1).default(0.5).describe('foreground when the probability exceeds it'),
    cache: z.string().optional().describe('model cache folder'),
  })
  .strict();

export const segmentationEvaluator: EvaluatorPluginV1<z.infer<typeof segmentationOptions>> = {
  specificationVersion: 'v1',
  kind: 'evaluator',
  name: 'segmentation',
  description: 'ISNet salient-object segmentation (onnxruntime-node): mIoU between the masks of original and decoded images.',
  optionsSchema: segmentationOptions,
  create: async ({ size, threshold, cache }) => new SegmentationEvaluator(await IsnetSegmenter.create(size, cache), threshold),
};

const faceOptions = z
  .object({
    calibration: z.string().default('../shared/data/faces/johns').describe('labelled faces <dir>/<identity>/*.jpg for the verification threshold'),
    falseAcceptRate: z.number().min(0).max(1).default(0.01).describe('false-accept rate the threshold allows'),
    cache: z.string().optional().describe('model cache folder'),
  })
  .strict();

export const faceRecognitionEvaluator: EvaluatorPluginV1<z.infer<typeof faceOptions>> = {
  specificationVersion: 'v1',
  kind: 'evaluator',
  name: 'face-recognition',
  description: 'Detect (ULFD), align (68 landmarks -> five-point template), embed (MobileFaceNet): face_identity_rate of decoded faces.',
  optionsSchema: faceOptions,
  create: async ({ calibration, falseAcceptRate, cache }, context) => {
    const pipeline = await FacePipeline.create(cache);
    const dir = isAbsolute(calibration) ? calibration : resolve(context.baseDir, calibration);
    const { embeddings, labels } = await embedFolder(pipeline, dir);
    if (new Set(labels).size < 2) throw new Error(`face calibration folder '${dir}' needs at least two identities with detectable faces`);
    return new FaceRecognitionEvaluator(pipeline, calibrate(embeddings, labels, falseAcceptRate));
  },
};

/** Adds this package's evaluator plugins to a registry. */
export function register(registry: PluginRegistry): void {
  registry.register(segmentationEvaluator).register(faceRecognitionEvaluator);
}
