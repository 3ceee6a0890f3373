import { crc32 } from './crc32.js';
import { BitstreamError } from './errors.js';

/** First bytes of every lic-backdoor bitstream file. */
export const MAGIC = 'LICB';
/** Version of the container layout below. */
export const CONTAINER_VERSION = 1;

/**
 * The content of a bitstream file. Layout (big-endian): magic "LICB", version u8, codec id
 * (u8 length + UTF-8), decoder-weights hash (16 bytes), height u32, width u32, stream count u8,
 * each stream's length u32, the streams, CRC-32 (u32) of everything before it.
 */
export interface Bitstream {
  /** Codec plugin id, e.g. `codec:bmshj2018-factorized`. */
  codecId: string;
  /** First 16 bytes of the SHA-256 of the decoder-side weights (zeros for classical codecs). */
  weightsHash: Uint8Array;
  /** Original image height in pixels. */
  height: number;
  /** Original image width in pixels. */
  width: number;
  /** Entropy-coded streams, in the codec's order (e.g. y, then z). */
  streams: Uint8Array[];
}

export function writeBitstream(b: Bitstream): Uint8Array {
  const id = new TextEncoder().encode(b.codecId);
  if (id.length > 255) throw new RangeError('codec id is longer than 255 bytes');
  if (b.weightsHash.length !== 16) throw new RangeError('weights hash must be 16 bytes');
  if (b.streams.length > 255) throw new RangeError('more than 255 streams');
  const headerLength = 4 + 1 + 1 + id.length + 16 + 4 + 4 + 1 + 4 * b.streams.length;
  const total = headerLength + b.streams.reduce((a, s) => a + s.length, 0) + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let p = 0;
  out.set(new TextEncoder().encode(MAGIC), p);
  p += 4;
  out[p++] = CONTAINER_VERSION;
  out[p++] = id.length;
  out.set(id, p);
  p += id.length;
  out.set(b.weightsHash, p);
  p += 16;
  view.setUint32(p, b.height);
  view.setUint32(p + 4, b.width);
  p += 8;
  out[p++] = b.streams.length;
  for (const s of b.streams) {
    view.setUint32(p, s.length);
    p += 4;
  }
  for (const s of b.streams) {
    out.set(s, p);
    p += s.length;
  }
  view.setUint32(p, crc32(out.subarray(0, p)));
  return out;
}

/** Parses and checks a bitstream file; any damage is a `BitstreamError` that says what is wrong. */
export function readBitstream(bytes: Uint8Array): Bitstream {
  const fail = (why: string): never => {
    throw new BitstreamError(`not a valid lic-backdoor bitstream: ${why}`);
  };
  if (bytes.length < 4 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) fail('wrong magic bytes');
  if (bytes.length < 4 + 1 + 1 + 16 + 9 + 4) fail(`file of ${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stored = view.getUint32(bytes.length - 4);
  if (crc32(bytes.subarray(0, bytes.length - 4)) !== stored) fail('CRC mismatch (the file is damaged or truncated)');
  let p = 4;
  const version = bytes[p++]!;
  if (version !== CONTAINER_VERSION) fail(`unsupported container version ${version}`);
  const idLength = bytes[p++]!;
  const need = (n: number) => {
    if (p + n > bytes.length - 4) fail('header runs past the end of the file');
  };
  need(idLength + 16 + 9);
  const codecId = new TextDecoder().decode(bytes.subarray(p, p + idLength));
  p += idLength;
  const weightsHash = bytes.slice(p, p + 16);
  p += 16;
  const height = view.getUint32(p);
  const width = view.getUint32(p + 4);
  p += 8;
  const count = bytes[p++]!;
  need(4 * count);
  const lengths = Array.from({ length: count }, (_, k) => view.getUint32(p + 4 * k));
  p += 4 * count;
  const streams: Uint8Array[] = [];
  for (const length of lengths) {
    need(length);
    streams.push(bytes.slice(p, p + length));
    p += length;
  }
  if (p !== bytes.length - 4) fail('stream lengths do not add up to the file size');
  if (height === 0 || width === 0 || height > 65535 || width > 65535) fail(`implausible image size ${width}x${height}`);
  return { codecId, weightsHash, height, width, streams };
}
