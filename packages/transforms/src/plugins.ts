import { z } from 'zod';
import type { PluginRegistry, TransformPluginV1, TransformV1 } from '@lic-backdoor/core';
import { blockDct, blockIdct } from './dct.js';
import { rgbToYcbcr, ycbcrToRgb } from './ycbcr.js';

const ycbcrOptions = z
  .object({ centered: z.boolean().default(false).describe('subtract 128 from every channel (the values JPEG transforms)') })
  .strict();

export const jpegYcbcrTransform: TransformPluginV1<z.infer<typeof ycbcrOptions>> = {
  specificationVersion: 'v1',
  kind: 'transform',
  name: 'jpeg-ycbcr',
  description: 'RGB in [0, 1] <-> JPEG full-range YCbCr on 0-255 values (optionally centred by -128).',
  optionsSchema: ycbcrOptions,
  create: (options): TransformV1 => ({
    specificationVersion: 'v1',
    id: 'transform:jpeg-ycbcr',
    outputLayout: `[B, H, W, 3] Y, Cb, Cr on 0-255${options.centered ? ', minus 128' : ''}`,
    forward: (x) => rgbToYcbcr(x, options),
    inverse: (y) => ycbcrToRgb(y, options),
  }),
};

const dctOptions = z
  .object({
    blockSize: z.number().int().min(2).max(64).default(16).describe('n of the n x n blocks'),
    normalization: z.enum(['orthonormal', 'unnormalized']).default('orthonormal'),
  })
  .strict();

export const blockDctTransform: TransformPluginV1<z.infer<typeof dctOptions>> = {
  specificationVersion: 'v1',
  kind: 'transform',
  name: 'block-dct',
  description: '2-D DCT-II of non-overlapping n x n blocks per channel, and its inverse.',
  optionsSchema: dctOptions,
  create: ({ blockSize, normalization }): TransformV1 => ({
    specificationVersion: 'v1',
    id: 'transform:block-dct',
    outputLayout: `[B, H/${blockSize}, W/${blockSize}, ${blockSize * blockSize}, C] coefficients, index u*${blockSize}+v`,
    forward: (x) => blockDct(x, blockSize, normalization),
    inverse: (y) => blockIdct(y, blockSize, normalization),
  }),
};

/** Adds this package's transform plugins to a registry. */
export function register(registry: PluginRegistry): void {
  registry.register(jpegYcbcrTransform).register(blockDctTransform);
}
