import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { CodecPluginV1, CodecV1, PluginRegistry } from '@lic-backdoor/core';
import { ClassicalCodec } from './classical.js';
import { FactorizedCodec } from './learned-codec.js';
import { MAX_DECODE_MEGAPIXELS } from './learned-codec-base.js';
import { FactorizedPrior } from './models/factorized.js';
import { readStateDict, withEncoder } from './weights.js';
import type { StateDict } from './models/state-dict.js';
import { HyperpriorCodec } from './hyperprior-codec.js';
import { HyperpriorModel, type HyperpriorVariant } from './models/hyperprior.js';
import { CompressaiFactorizedCodec, CompressaiHyperpriorCodec } from './compressai-codec.js';

const factorizedOptions = z
  .object({
    N: z.number().int().positive().default(128).describe('channels of the hidden layers'),
    M: z.number().int().positive().default(192).describe('channels of the latent'),
    weights: z.string().optional().describe('.safetensors state dict (CompressAI names); random weights when absent'),
    encoder: z
      .string()
      .optional()
      .describe("encoder side (g_a, h_a; .safetensors) that replaces the weights' own, e.g. a backdoor's encoder.safetensors; needs weights"),
    maxMegapixels: z
      .number()
      .positive()
      .default(MAX_DECODE_MEGAPIXELS)
      .describe('largest image decoded, in megapixels: a stream whose header claims more is refused before any allocation'),
  })
  .strict();

type StateDictFile = Awaited<ReturnType<typeof readStateDict>>['state'];

/** `train-codec` trains these codecs through `trainable.ts` (`createTrainable`), in every worker thread. */
const training = { module: new URL('./trainable.js', import.meta.url).href };

/** Reads `weights` (relative to the config's folder), with `encoder`'s encoder side over it, and takes N and M from its g_a shapes. */
async function weightsOption(options: { N: number; M: number; weights?: string; encoder?: string }, baseDir: string): Promise<{ N: number; M: number; state?: StateDictFile }> {
  if (!options.weights) {
    if (options.encoder) throw new Error('the encoder option replaces the encoder side of weights: set weights too');
    return { N: options.N, M: options.M };
  }
  const path = (file: string) => (isAbsolute(file) ? file : resolve(baseDir, file));
  let state = (await readStateDict(path(options.weights))).state;
  if (options.encoder) state = withEncoder(state, (await readStateDict(path(options.encoder))).state, options.encoder);
  const ga0 = state['g_a.0.weight'];
  const ga6 = state['g_a.6.weight'];
  return { N: ga0?.shape[0] ?? options.N, M: ga6?.shape[0] ?? options.M, state };
}

/** Coding flavours: `lic-backdoor` (deterministic across runtimes, the default) or `compressai` (CompressAI's streams, `compressai-codec.ts`). */
type Coding = 'lic-backdoor' | 'compressai';

const COMPRESSAI_NOTE = " CompressAI's coding: its stored CDF tables, scale indexes and rANS streams, float h_s and g_s (tfjs only).";

function factorized(coding: Coding): CodecPluginV1<z.infer<typeof factorizedOptions>> {
  const name = coding === 'compressai' ? 'bmshj2018-factorized-compressai' : 'bmshj2018-factorized';
  return {
    specificationVersion: 'v1',
    kind: 'codec',
    name,
    description: 'Ballé et al. 2018 factorized-prior codec (CompressAI-compatible weights), real rANS bitstreams.' + (coding === 'compressai' ? COMPRESSAI_NOTE : ''),
    optionsSchema: factorizedOptions,
    ...(coding === 'lic-backdoor' ? { training } : {}),
    create: async (options, context) => {
      const { N, M, state } = await weightsOption(options, context.baseDir);
      return buildFactorized(coding, N, M, context.seed, state, options);
    },
  };
}

/** The factorized codec of `coding` with `state` loaded (random weights from `seed` without one). */
function buildFactorized(coding: Coding, N: number, M: number, seed: number, state: StateDict | undefined, options: { maxMegapixels: number; weights?: string }) {
  const name = coding === 'compressai' ? 'bmshj2018-factorized-compressai' : 'bmshj2018-factorized';
  const model = new FactorizedPrior(N, M, seed);
  const codec = coding === 'compressai' ? new CompressaiFactorizedCodec(`codec:${name}`, model) : new FactorizedCodec(`codec:${name}`, model);
  codec.maxMegapixels = options.maxMegapixels;
  if (state) model.loadStateDict(state);
  if (state && coding === 'compressai') requireStoredTables(name, options.weights!, !!model.entropyBottleneck.tables);
  if (!model.entropyBottleneck.tables) codec.update();
  return codec;
}

/**
 * CompressAI codes with the tables its state dict stores; a file saved before `update()` has none,
 * and tables rebuilt here would not be CompressAI's (its rounding differs), so its streams would not decode there.
 */
function requireStoredTables(name: string, weights: string, stored: boolean): void {
  if (!stored) {
    throw new Error(
      `${name}: '${weights}' holds no CDF tables; CompressAI codes with the tables a state dict stores: save it after CompressAI's model.update(force=True), or build them with 'lic-backdoor update-weights' (CompressAI then uses those as stored)`,
    );
  }
}

export const factorizedCodec = factorized('lic-backdoor');

function hyperprior(model: 'bmshj2018-hyperprior' | 'mbt2018-mean', variant: HyperpriorVariant, coding: Coding): CodecPluginV1<z.infer<typeof factorizedOptions>> {
  const name = coding === 'compressai' ? `${model}-compressai` : model;
  return {
    specificationVersion: 'v1',
    kind: 'codec',
    name,
    description:
      (variant === 'scale'
        ? 'Ballé et al. 2018 scale hyperprior (CompressAI-compatible weights), real rANS bitstreams.'
        : 'Minnen et al. 2018 mean-scale hyperprior without context model (CompressAI-compatible weights), real rANS bitstreams.') + (coding === 'compressai' ? COMPRESSAI_NOTE : ''),
    optionsSchema: factorizedOptions,
    ...(coding === 'lic-backdoor' ? { training } : {}),
    create: async (options, context) => {
      const { N, M, state } = await weightsOption(options, context.baseDir);
      return buildHyperprior(model, variant, coding, N, M, context.seed, state, options);
    },
  };
}

/** The hyperprior codec of `coding` with `state` loaded (random weights from `seed` without one). */
function buildHyperprior(model: 'bmshj2018-hyperprior' | 'mbt2018-mean', variant: HyperpriorVariant, coding: Coding, N: number, M: number, seed: number, state: StateDict | undefined, options: { maxMegapixels: number; weights?: string }) {
  const name = coding === 'compressai' ? `${model}-compressai` : model;
  const hyperprior = new HyperpriorModel(variant, N, M, seed);
  const codec = coding === 'compressai' ? new CompressaiHyperpriorCodec(`codec:${name}`, hyperprior) : new HyperpriorCodec(`codec:${name}`, hyperprior);
  codec.maxMegapixels = options.maxMegapixels;
  if (state) hyperprior.loadStateDict(state);
  if (state && coding === 'compressai') requireStoredTables(name, options.weights!, !!hyperprior.entropyBottleneck.tables && !!hyperprior.gaussianConditional.stored);
  if (!hyperprior.entropyBottleneck.tables) codec.update();
  return codec;
}

/** The learned codecs this package builds from a state dict. */
export type LearnedCodecName = 'bmshj2018-factorized' | 'bmshj2018-hyperprior' | 'mbt2018-mean';

/**
 * A learned codec (this toolkit's coding) from a loaded state dict, N and M taken from its g_a
 * shapes: what the codec plugins create from `weights`, for callers that hold the weights' bytes
 * instead of a file (a browser; `parseStateDict` reads them).
 */
export function learnedCodec(name: LearnedCodecName, state: StateDict, options: { maxMegapixels?: number } = {}): CodecV1 {
  const N = state['g_a.0.weight']?.shape[0];
  const M = state['g_a.6.weight']?.shape[0];
  if (N === undefined || M === undefined) throw new Error(`${name}: the weights hold no g_a.0.weight or g_a.6.weight`);
  const o = { maxMegapixels: options.maxMegapixels ?? MAX_DECODE_MEGAPIXELS };
  return name === 'bmshj2018-factorized'
    ? buildFactorized('lic-backdoor', N, M, 0, state, o)
    : buildHyperprior(name, name === 'mbt2018-mean' ? 'mean-scale' : 'scale', 'lic-backdoor', N, M, 0, state, o);
}

const classicalOptions = z.object({ quality: z.number().int().min(1).max(100).default(75).describe('encoder quality 1-100') }).strict();

function classical(name: 'jpeg' | 'webp'): CodecPluginV1<z.infer<typeof classicalOptions>> {
  return {
    specificationVersion: 'v1',
    kind: 'codec',
    name,
    description: `${name.toUpperCase()} through sharp/libvips${name === 'jpeg' ? ' (4:2:0 chroma)' : ''}, for baselines.`,
    optionsSchema: classicalOptions,
    create: ({ quality }) => new ClassicalCodec(`codec:${name}`, name, quality),
  };
}

/** Adds this package's codec plugins to a registry. */
export function register(registry: PluginRegistry): void {
  registry
    .register(factorizedCodec)
    .register(hyperprior('bmshj2018-hyperprior', 'scale', 'lic-backdoor'))
    .register(hyperprior('mbt2018-mean', 'mean-scale', 'lic-backdoor'))
    .register(factorized('compressai'))
    .register(hyperprior('bmshj2018-hyperprior', 'scale', 'compressai'))
    .register(hyperprior('mbt2018-mean', 'mean-scale', 'compressai'))
    .register(classical('jpeg'))
    .register(classical('webp'));
}
