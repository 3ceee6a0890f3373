// A third-party codec plugin for lic-backdoor, in plain JavaScript: the default export is a plugin
// factory (contract: @lic-backdoor/spec, v1). `posterize` quantizes every RGB value to `levels`
// levels and deflates them: a real, if crude, bitstream. It needs nothing from lic-backdoor at run
// time; tfjs-core and zod are the host's (peer dependencies).
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

const MAGIC = [0x50, 0x53, 0x54, 0x5a]; // 'PSTZ'
const VERSION = 1;
const HEADER = 14; // magic (4), version (1), levels (1), height (4), width (4)

const optionsSchema = z
  .object({
    levels: z.number().int().min(2).max(256).default(32).describe('levels per RGB value (2 to 256)'),
  })
  .strict();

/** The container: header, then the deflated quantized values (row-major RGB). */
export function writeStream(levels, height, width, values) {
  const payload = deflateRawSync(values, { level: 9 });
  const bytes = new Uint8Array(HEADER + payload.length);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  bytes[4] = VERSION;
  bytes[5] = levels - 1;
  view.setUint32(6, height);
  view.setUint32(10, width);
  bytes.set(payload, HEADER);
  return bytes;
}

/** Parses and checks a stream; the inflated size is capped at the header's, so a hostile stream cannot make it allocate more. */
export function readStream(bytes) {
  if (bytes.length < HEADER || MAGIC.some((m, i) => bytes[i] !== m)) throw new Error('not a posterize stream (bad magic)');
  if (bytes[4] !== VERSION) throw new Error(`posterize stream version ${bytes[4]}, this codec reads ${VERSION}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [levels, height, width] = [bytes[5] + 1, view.getUint32(6), view.getUint32(10)];
  if (height === 0 || width === 0 || height * width > 64e6) throw new Error(`posterize stream claims ${width} x ${height} pixels (at most 64 megapixels)`);
  let values;
  try {
    values = inflateRawSync(bytes.subarray(HEADER), { maxOutputLength: height * width * 3 });
  } catch (cause) {
    throw new Error(`posterize stream is damaged (${cause instanceof Error ? cause.message : cause})`, { cause });
  }
  if (values.length !== height * width * 3) throw new Error(`posterize stream holds ${values.length} values for ${width} x ${height} x 3`);
  if (values.some((v) => v >= levels)) throw new Error(`posterize stream holds a value above its ${levels} levels`);
  return { levels, height, width, values };
}

/** @type {import('@lic-backdoor/spec').CodecPluginV1<{ levels: number }>} */
const posterize = {
  specificationVersion: 'v1',
  kind: 'codec',
  name: 'posterize',
  description: 'Example plugin: every RGB value quantized to `levels` levels, deflated (a real bitstream).',
  optionsSchema,
  create: ({ levels }) => ({
    specificationVersion: 'v1',
    id: 'codec:posterize',
    learned: false,
    async compress(image) {
      const [, height, width] = image.shape;
      const data = await image.data();
      const values = Uint8Array.from(data, (v) => Math.round(Math.min(1, Math.max(0, v)) * (levels - 1)));
      return { bytes: writeStream(levels, height, width, values), height, width };
    },
    async decompress(bytes) {
      const s = readStream(bytes);
      return tf.tensor4d(Float32Array.from(s.values, (v) => v / (s.levels - 1)), [1, s.height, s.width, 3]);
    },
    dispose() {},
  }),
};

export default posterize;
