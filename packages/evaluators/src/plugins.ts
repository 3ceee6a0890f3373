import { z } from 'zod';
import type { EvaluatorPluginV1, PluginRegistry } from '@lic-backdoor/core';
import { IsnetSegmenter, SegmentationEvaluator } from './segmentation.js';

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

/** Adds this package's evaluator plugins to a registry. */
export function register(registry: PluginRegistry): void {
  registry.register(segmentationEvaluator);
}
