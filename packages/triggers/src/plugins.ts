import { z } from 'zod';
import type { PluginRegistry, TriggerPluginV1 } from '@lic-backdoor/core';
import { AdaptiveFrequencyTrigger } from './adaptive-frequency.js';
import { BlendTrigger, FixedFrequencyTrigger, PatchTrigger } from './fixed.js';

const band = {
  blockSize: z.number().int().min(4).max(64).default(16).describe('n of the n x n DCT blocks'),
  fromRank: z.number().int().min(0).default(96).describe('first zig-zag rank of the candidate frequencies'),
  toRank: z.number().int().min(1).default(160).describe('end (exclusive) of the candidate zig-zag ranks'),
};

function checkBand<T extends { blockSize: number; fromRank: number; toRank: number }>(schema: z.ZodType<T>) {
  return schema.refine((o) => o.fromRank < o.toRank && o.toRank <= o.blockSize ** 2, { message: 'need fromRank < toRank <= blockSize^2' });
}

const adaptiveOptions = checkBand(
  z
    .object({
      ...band,
      topK: z.number().int().min(1).default(16).describe('coefficients kept per channel by learned importance'),
      width: z.number().int().min(2).default(16).describe('channels of the first stage of the trigger networks'),
      amplitude: z.number().positive().default(24).describe('largest pattern value, DCT units of the 0-255 YCbCr image'),
    })
    .strict(),
);

export const adaptiveFrequencyTrigger: TriggerPluginV1<z.infer<typeof adaptiveOptions>> = {
  specificationVersion: 'v1',
  kind: 'trigger',
  name: 'adaptive-frequency',
  description: 'Image-adaptive DCT-domain trigger of Yu et al. 2023: learned top-K mid frequencies, per-block weights (trainable).',
  optionsSchema: adaptiveOptions,
  create: (options, context) => new AdaptiveFrequencyTrigger(options, context.seed),
};

const fixedOptions = checkBand(
  z
    .object({
      ...band,
      toRank: z.number().int().min(1).default(112).describe('end (exclusive) of the zig-zag ranks used'),
      amplitude: z.number().positive().default(12).describe('size of each added coefficient, DCT units of the 0-255 YCbCr image'),
      channels: z.array(z.enum(['Y', 'Cb', 'Cr'])).min(1).default(['Y']).describe('YCbCr channels that carry the trigger'),
    })
    .strict(),
);

export const fixedFrequencyTrigger: TriggerPluginV1<z.infer<typeof fixedOptions>> = {
  specificationVersion: 'v1',
  kind: 'trigger',
  name: 'fixed-frequency',
  description: 'Baseline: the same random-sign DCT coefficients added to every block of every image.',
  optionsSchema: fixedOptions,
  create: (options, context) => new FixedFrequencyTrigger(options, context.seed),
};

const patchOptions = z
  .object({
    size: z.number().int().min(1).default(8).describe('side of the square patch in pixels'),
    corner: z.enum(['top-left', 'top-right', 'bottom-left', 'bottom-right']).default('bottom-right'),
    opacity: z.number().min(0).max(1).default(1).describe('1 replaces the pixels, less blends the patch in'),
  })
  .strict();

export const patchTrigger: TriggerPluginV1<z.infer<typeof patchOptions>> = {
  specificationVersion: 'v1',
  kind: 'trigger',
  name: 'patch',
  description: 'Baseline (BadNets-style): a fixed random black/white patch in one corner.',
  optionsSchema: patchOptions,
  create: (options, context) => new PatchTrigger(options, context.seed),
};

const blendOptions = z
  .object({
    alpha: z.number().min(0).max(1).default(0.03).describe('weight of the pattern in the blend'),
    tile: z.number().int().min(1).default(32).describe('side of the repeated random tile'),
  })
  .strict();

export const blendTrigger: TriggerPluginV1<z.infer<typeof blendOptions>> = {
  specificationVersion: 'v1',
  kind: 'trigger',
  name: 'blend',
  description: 'Baseline: alpha-blend of a fixed random pattern over the whole image.',
  optionsSchema: blendOptions,
  create: (options, context) => new BlendTrigger(options, context.seed),
};

/** Adds this package's trigger plugins to a registry. */
export function register(registry: PluginRegistry): void {
  registry.register(adaptiveFrequencyTrigger).register(fixedFrequencyTrigger).register(patchTrigger).register(blendTrigger);
}
