import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { makeDirectory } from './directory.js';
import { dirname } from 'node:path';
import { SafetensorsError } from '../errors.js';

/** Element types of the safetensors format that this reader understands. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One named array: float types decode to Float32Array, integer types to Int32Array (U8/BOOL to Uint8Array). */
export interface NamedArray {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** What `readSafetensors` returns. */
export interface SafetensorsFile {
  tensors: Record<string, NamedArray>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** IEEE 754 half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A number to IEEE 754 half-precision bits: rounded to nearest even, subnormals kept, overflow to infinity. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // half exponent field for a normal result
  if (e >= 0x1f) return sign | 0x7c00;
  // Normal: drop 13 mantissa bits. Subnormal: the 24-bit significand shifted right by 14 - e.
  const significand = e > 0 ? mant : mant | 0x800000;
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign;
  let half = (e > 0 ? e << 10 : 0) | (significand >>> shift);
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && half & 1)) half++; // a carry into the exponent is still right
  return sign | half;
}

let halfTable: Float32Array | undefined;

/** Every half-precision value, by its bits. */
function halves(): Float32Array {
  halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
  return halfTable;
}

/** `count` values read by `read(i)`, filled in a plain loop (Float32Array.from with a callback is several times slower). */
function filled(count: number, read: (i: number) => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = read(i);
  return out;
}

function decode(name: string, dtype: SafetensorsDtype, bytes: Uint8Array, count: number, file: string): NamedArray['data'] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      return filled(count, (i) => view.getFloat32(i * 4, true));
    case 'F64':
      return filled(count, (i) => view.getFloat64(i * 8, true));
    case 'F16': {
      const table = halves();
      return filled(count, (i) => table[view.getUint16(i * 2, true)]!);
    }
    case 'BF16':
      return Float32Array.from({ length: count }, (_, i) => {
        const b = new DataView(new ArrayBuffer(4));
        b.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        return b.getFloat32(0, true);
      });
    case 'I64':
      return Int32Array.from({ length: count }, (_, i) => {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) throw new SafetensorsError(file, `tensor '${name}': int64 value ${v} does not fit int32`);
        return Number(v);
      });
    case 'I32':
      return Int32Array.from({ length: count }, (_, i) => view.getInt32(i * 4, true));
    case 'I16':
      return Int32Array.from({ length: count }, (_, i) => view.getInt16(i * 2, true));
    case 'I8':
      return Int32Array.from({ length: count }, (_, i) => view.getInt8(i));
    case 'U8':
    case 'BOOL':
      return Uint8Array.from(bytes.subarray(0, count));
  }
}

/** Parses safetensors bytes (8-byte little-endian header length, JSON header, data); no Node API, so it runs in browsers too. */
export function parseSafetensors(buffer: Uint8Array, file = '(buffer)'): SafetensorsFile {
  if (buffer.length < 8) throw new SafetensorsError(file, 'file is shorter than its 8-byte header length');
  const headerLength = Number(new DataView(buffer.buffer, buffer.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > buffer.length - 8) throw new SafetensorsError(file, `header length ${headerLength} exceeds the file size`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buffer.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (cause) {
    throw new SafetensorsError(file, 'header is not valid JSON', { cause });
  }
  const data = buffer.subarray(8 + headerLength);
  const tensors: Record<string, NamedArray> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: SafetensorsDtype; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) throw new SafetensorsError(file, `tensor '${name}' has unsupported dtype '${dtype}'`);
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offsets;
    if (end - begin !== count * BYTES[dtype] || end > data.length || begin < 0) {
      throw new SafetensorsError(file, `tensor '${name}' has data offsets [${begin}, ${end}] that do not match shape [${shape}] ${dtype} or the file size`);
    }
    tensors[name] = { dtype, shape, data: decode(name, dtype, data.subarray(begin, end), count, file) };
  }
  return { tensors, metadata };
}

/** Reads a .safetensors file. */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let buffer: Buffer;
  try {
    buffer = await readFile(file);
  } catch (cause) {
    throw new SafetensorsError(file, (cause as Error).message, { cause });
  }
  return parseSafetensors(buffer, file);
}

/** How `serializeSafetensors` stores float arrays. */
export interface SerializeOptions {
  /**
   * Store Float32Array data as F16 (half the bytes; values rounded to nearest even): all of it
   * (`true`) or the tensors whose name the predicate accepts. Default false: F32.
   */
  half?: boolean | ((name: string) => boolean);
}

function halfBytes(data: Float32Array): Buffer {
  const out = Buffer.alloc(data.length * 2);
  data.forEach((v, i) => out.writeUInt16LE(floatToHalf(v), i * 2));
  return out;
}

/**
 * Serialises named arrays: Float32Array as F32 (F16 with `half`), Int32Array as I32, Uint8Array
 * as U8, in the order given, 8-byte aligned header as the reference implementation writes it.
 */
export function serializeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array }>,
  metadata: Record<string, string> = {},
  options: SerializeOptions = {},
): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Buffer[] = [];
  for (const [name, { shape, data }] of Object.entries(tensors)) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new SafetensorsError('(write)', `tensor '${name}' has ${data.length} values for shape [${shape}]`);
    const half = data instanceof Float32Array && (typeof options.half === 'function' ? options.half(name) : options.half === true);
    const dtype = half ? 'F16' : data instanceof Float32Array ? 'F32' : data instanceof Int32Array ? 'I32' : 'U8';
    const bytes = half ? halfBytes(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([length, Buffer.from(json, 'utf8'), ...parts]);
}

/** Writes a .safetensors file atomically (temporary file in the same folder, fsync, rename). */
export async function writeSafetensors(
  file: string,
  tensors: Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array }>,
  metadata: Record<string, string> = {},
  options: SerializeOptions = {},
): Promise<void> {
  await writeFileAtomic(file, serializeSafetensors(tensors, metadata, options));
}

/** Writes bytes to `file` through a temporary file and a rename, so a crash never leaves half a file. */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await makeDirectory(dirname(file));
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, bytes);
    const handle = await open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    // a failed write (e.g. `file` is a directory) leaves nothing behind
    await rm(tmp, { force: true });
    throw error;
  }
}
