import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { PluginRegistry, initializeBackend, readImage, readSafetensors, writeSafetensors, type CodecV1 } from '@lic-backdoor/core';
import { decodeWithIndexes, encodeWithIndexes, readBitstream, writeBitstream } from '@lic-backdoor/entropy';
import type { CompressaiFactorizedCodec, CompressaiHyperpriorCodec } from './compressai-codec.js';
import type { HyperpriorCodec } from './hyperprior-codec.js';
import { channelIndexes } from './padding.js';
import { register } from './plugins.js';
import { readStateDict } from './weights.js';

// Golden fixtures written by the real CompressAI (apps/bench/torch/compressai_fixtures.py): its
// models at N=8, M=8, briefly trained and update()'d, its strings for a 64 x 96 crop of kodim23.
const DIR = fileURLToPath(new URL('./__fixtures__/compressai/', import.meta.url));
const MODELS = ['bmshj2018-factorized', 'bmshj2018-hyperprior', 'mbt2018-mean'] as const;
type Model = (typeof MODELS)[number];

interface Fixture {
  meta: { N: number; M: number; height: number; width: number; shape: [number, number]; strings: string[] };
  strings: Uint8Array[];
  coded: Record<string, { shape: number[]; data: Float32Array | Int32Array }>;
}

async function fixture(model: Model): Promise<Fixture> {
  const meta = JSON.parse(readFileSync(`${DIR}${model}.json`, 'utf8')) as Fixture['meta'];
  const coded = (await readSafetensors(`${DIR}${model}-coded.safetensors`)).tensors as unknown as Fixture['coded'];
  return { meta, strings: meta.strings.map((s) => new Uint8Array(Buffer.from(s, 'base64'))), coded };
}

const registry = new PluginRegistry();
register(registry);
const codec = (name: string, weights: string) => registry.create('codec', [name, { weights }]) as Promise<CodecV1>;

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

describe.each(MODELS)('%s from CompressAI', (model) => {
  const weights = `${DIR}${model}.safetensors`;

  it('loads its >= 1.2.6 and its pre-1.2.6 state dict, naming the convention, to the same decoder', async () => {
    const [current, legacy] = [await readStateDict(weights), await readStateDict(`${DIR}${model}-legacy.safetensors`)];
    expect([current.convention, legacy.convention]).toEqual(['compressai>=1.2.6', 'compressai<1.2.6']);
    const [a, b] = [await codec(model, weights), await codec(model, `${DIR}${model}-legacy.safetensors`)];
    const hash = (c: CodecV1) => Buffer.from((c as unknown as { weightsHash(): Uint8Array }).weightsHash()).toString('hex');
    expect(hash(a)).toBe(hash(b));
    a.dispose();
    b.dispose();
  });

  it("codes CompressAI's symbols into its strings byte for byte, and decodes its strings to its symbols", async () => {
    const { strings, coded, meta } = await fixture(model);
    const c = (await codec(`${model}-compressai`, weights)) as CompressaiFactorizedCodec | CompressaiHyperpriorCodec;
    const eb = c.model.entropyBottleneck.tables!;
    const [h, w] = meta.shape;
    if (model === 'bmshj2018-factorized') {
      const ySymbols = coded.y_symbols!.data as Int32Array;
      const indexes = channelIndexes(meta.M, h, w);
      expect(Buffer.from(encodeWithIndexes(ySymbols, indexes, eb, 'compressai')).equals(Buffer.from(strings[0]!))).toBe(true);
      expect(Array.from(decodeWithIndexes(strings[0]!, indexes, eb, 'compressai'))).toEqual(Array.from(ySymbols));
    } else {
      const gc = (c as CompressaiHyperpriorCodec).gaussian().tables;
      const [zSymbols, ySymbols, yIndexes] = [coded.z_symbols!.data as Int32Array, coded.y_symbols!.data as Int32Array, coded.y_indexes!.data as Int32Array];
      const zIndexes = channelIndexes(meta.N, h, w);
      expect(Buffer.from(encodeWithIndexes(zSymbols, zIndexes, eb, 'compressai')).equals(Buffer.from(strings[1]!))).toBe(true);
      expect(Buffer.from(encodeWithIndexes(ySymbols, yIndexes, gc, 'compressai')).equals(Buffer.from(strings[0]!))).toBe(true);
      expect(Array.from(decodeWithIndexes(strings[1]!, zIndexes, eb, 'compressai'))).toEqual(Array.from(zSymbols));
      expect(Array.from(decodeWithIndexes(strings[0]!, yIndexes, gc, 'compressai'))).toEqual(Array.from(ySymbols));
    }
    c.dispose();
  });

  it("compresses the image into CompressAI's strings, and decodes CompressAI's strings to its latents and, within 1e-4, its image", async () => {
    const { strings, coded, meta } = await fixture(model);
    const c = (await codec(`${model}-compressai`, weights)) as CompressaiFactorizedCodec | CompressaiHyperpriorCodec;
    const image = await readImage(`${DIR}image.png`);
    const mine = readBitstream((await c.compress(image)).bytes);
    expect(mine.codecId).toBe(`codec:${model}-compressai`);
    expect([mine.height, mine.width]).toEqual([meta.height, meta.width]);
    expect(mine.streams.map((s) => Buffer.from(s).toString('base64'))).toEqual(meta.strings);

    const theirs = writeBitstream({ ...mine, streams: strings });
    if (model !== 'bmshj2018-factorized') {
      const { yHat, zHat, indexes } = (c as CompressaiHyperpriorCodec).decodeLatents(strings, meta.height, meta.width);
      expect(Array.from(zHat)).toEqual(Array.from(coded.z_hat!.data));
      expect(Array.from(indexes)).toEqual(Array.from(coded.y_indexes!.data));
      // y_hat = symbols + means: the symbols are CompressAI's; the means come from tfjs's float h_s
      const diff = Math.max(...Array.from(yHat, (v, i) => Math.abs(v - coded.y_hat!.data[i]!)));
      expect(diff).toBeLessThan(model === 'mbt2018-mean' ? 1e-5 : 1e-30);
    }
    const decoded = await c.decompress(theirs);
    const expected = coded.x_hat!;
    const ours = tf.tidy(() => tf.transpose(decoded, [0, 3, 1, 2]).dataSync());
    expect(ours.length).toBe(expected.data.length);
    const maxDiff = Math.max(...Array.from(ours, (v, i) => Math.abs(v - expected.data[i]!)));
    expect(maxDiff).toBeLessThan(1e-4);
    tf.dispose([image, decoded]);
    c.dispose();
  });
});

test("values far outside the tables (bypass-coded) give CompressAI's RansEncoder bytes, and decode back", async () => {
  const { values, indexes, string } = JSON.parse(readFileSync(`${DIR}escapes.json`, 'utf8')) as { values: number[]; indexes: number[]; string: string };
  const tables = ((await codec('bmshj2018-factorized-compressai', `${DIR}bmshj2018-factorized.safetensors`)) as CompressaiFactorizedCodec).model.entropyBottleneck.tables!;
  const escaped = values.filter((v, k) => v - tables.offsets[indexes[k]!]! < 0 || v - tables.offsets[indexes[k]!]! >= tables.cdfLengths[indexes[k]!]! - 2);
  expect(escaped.length).toBeGreaterThan(400);
  expect(Math.max(...escaped.map(Math.abs))).toBeGreaterThan(2 ** 18);
  const bytes = encodeWithIndexes(Int32Array.from(values), Int32Array.from(indexes), tables, 'compressai');
  expect(Buffer.from(bytes).toString('base64')).toBe(string);
  expect(Array.from(decodeWithIndexes(new Uint8Array(Buffer.from(string, 'base64')), Int32Array.from(indexes), tables, 'compressai'))).toEqual(values);
});

test("CompressAI's strings are refused by the default coding and by other weights, with the reason", async () => {
  const { strings, meta } = await fixture('mbt2018-mean');
  const compat = (await codec('mbt2018-mean-compressai', `${DIR}mbt2018-mean.safetensors`)) as CompressaiHyperpriorCodec;
  const bytes = writeBitstream({ codecId: compat.id, weightsHash: compat.weightsHash(), height: meta.height, width: meta.width, streams: strings });
  const plain = await codec('mbt2018-mean', `${DIR}mbt2018-mean.safetensors`);
  await expect(plain.decompress(bytes)).rejects.toThrow(/written by 'codec:mbt2018-mean-compressai', not 'codec:mbt2018-mean'/);
  const other = await codec('mbt2018-mean-compressai', `${DIR}bmshj2018-hyperprior.safetensors`).catch((e: Error) => e);
  expect(other).toBeInstanceOf(Error);
  // a damaged CompressAI stream is a clean error, not a wrong image
  const cut = writeBitstream({ codecId: compat.id, weightsHash: compat.weightsHash(), height: meta.height, width: meta.width, streams: [strings[0]!.slice(0, 8), strings[1]!] });
  await expect(compat.decompress(cut)).rejects.toThrow(/entropy-coded stream/);
  for (const c of [compat, plain]) c.dispose();
});

test('weights saved before update() (no stored CDF tables) are refused by the CompressAI coding, naming the fix', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'compressai-'));
  const { tensors } = await readSafetensors(`${DIR}mbt2018-mean.safetensors`);
  const empty = Object.fromEntries(
    Object.entries(tensors).map(([k, t]) => [k, /\._(offset|quantized_cdf|cdf_length)$/.test(k) ? { shape: [0], data: new Int32Array(0) } : { shape: t.shape, data: t.data }]),
  );
  await writeSafetensors(join(dir, 'no-tables.safetensors'), empty as Record<string, { shape: number[]; data: Float32Array | Int32Array }>, {});
  await expect(codec('mbt2018-mean-compressai', join(dir, 'no-tables.safetensors'))).rejects.toThrow(/holds no CDF tables; .*model\.update\(force=True\).*update-weights/);
  // the default coding builds its own
  (await codec('mbt2018-mean', join(dir, 'no-tables.safetensors'))).dispose();
});

test("the fixed-point h_s of the default coding picks CompressAI's table for all but boundary scales", async () => {
  // what the default coding's fixed-point h_s changes: its scales are within about 1e-4 of the
  // float ones, so its nearest-entry indexes, taken with CompressAI's first->= rule instead, agree
  // with CompressAI's except where a scale lies that close to a table entry
  const { coded, meta } = await fixture('mbt2018-mean');
  const plain = (await codec('mbt2018-mean', `${DIR}mbt2018-mean.safetensors`)) as unknown as HyperpriorCodec & { model: { gaussianConditional: { stored?: { scaleTable: Float32Array; scaleBound: number } } } };
  const [h, w] = meta.shape;
  const { scales } = plain.fixedPointHyperSynthesis().run(coded.z_symbols!.data as Int32Array, h, w);
  const stored = plain.model.gaussianConditional.stored!;
  const { GaussianConditional } = await import('./entropy-models/gaussian-conditional.js');
  const indexes = GaussianConditional.firstAtLeast(scales, stored.scaleTable, stored.scaleBound);
  const differing = Array.from(indexes).filter((v, i) => v !== coded.y_indexes!.data[i]).length;
  expect(indexes.length).toBe(meta.M * h * 4 * w * 4);
  expect(differing).toBeLessThanOrEqual(1);
  plain.dispose();
});
