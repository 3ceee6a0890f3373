import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ImageReadError, DatasetError } from '../errors.js';
import { createRng } from '../rng.js';
import { ImageFolderDataset } from './dataset.js';
import { readImage, readRgb, tensorToRgb, writeImage } from './image.js';
import { floatToHalf, halfToFloat, parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from './safetensors.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'lic-io-'));
});

function gradient(h: number, w: number): tf.Tensor4D {
  const v = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) v[(y * w + x) * 3 + c] = ((y * 7 + x * 13 + c * 50) % 256) / 255;
  return tf.tensor4d(v, [1, h, w, 3]);
}

describe('image I/O', () => {
  it('PNG and lossless WebP round-trip 8-bit images exactly; JPEG stays close', async () => {
    const image = gradient(20, 30);
    const expected = await tensorToRgb(image);
    for (const ext of ['png', 'webp']) {
      await writeImage(join(dir, `a.${ext}`), image);
      const back = await readRgb(join(dir, `a.${ext}`));
      expect([back.height, back.width]).toEqual([20, 30]);
      expect(Buffer.from(back.data).equals(Buffer.from(expected.data))).toBe(true);
    }
    const smooth = tf.div(tf.mul(tf.add(tf.reshape(tf.range(0, 20), [1, 20, 1, 1]), tf.reshape(tf.range(0, 30), [1, 1, 30, 1])), tf.ones([1, 1, 1, 3])), 60) as tf.Tensor4D;
    await writeImage(join(dir, 'a.jpg'), smooth);
    const jpeg = await readImage(join(dir, 'a.jpg'));
    expect(tf.mean(tf.abs(tf.sub(jpeg, smooth))).arraySync()).toBeLessThan(0.01);
  });

  it('writing rounds to 8 bits and clamps to [0, 1]', async () => {
    const rgb = await tensorToRgb(tf.tensor4d([-0.5, 0.5, 1.5, 0.002, 0.998, 1 / 255], [1, 1, 2, 3]));
    expect([...rgb.data]).toEqual([0, 128, 255, 1, 254, 1]);
  });

  it('an unreadable or non-image file is an error naming the file', async () => {
    const bogus = join(dir, 'not-an-image.png');
    await writeFile(bogus, 'hello');
    await expect(readImage(bogus)).rejects.toThrow(ImageReadError);
    await expect(readImage(bogus)).rejects.toThrow(bogus);
    await expect(readImage(join(dir, 'missing.png'))).rejects.toThrow(/missing\.png': no such file/);
  });
});

describe('ImageFolderDataset', () => {
  it('random crops are reproducible from the seed and come from the images', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'lic-ds-'));
    await writeImage(join(folder, '1.png'), gradient(40, 50));
    await writeImage(join(folder, '2.png'), tf.fill([1, 45, 40, 3], 0.2) as tf.Tensor4D);
    await writeFile(join(folder, 'readme.txt'), 'skip me');
    const ds = await ImageFolderDataset.load(folder, { minSize: 32 });
    expect(ds.size).toBe(2);
    const a = ds.randomCrops(createRng(5), 4, 32, { flip: true });
    const b = ds.randomCrops(createRng(5), 4, 32, { flip: true });
    expect(a.shape).toEqual([4, 32, 32, 3]);
    expect(tf.all(tf.equal(a, b)).arraySync()).toBe(1);
    expect(tf.min(a).arraySync()).toBeGreaterThanOrEqual(0);
    expect(tf.max(a).arraySync()).toBeLessThanOrEqual(1);
    await expect(ImageFolderDataset.load(folder, { minSize: 48 })).rejects.toThrow(/smaller than the crop size 48/);
    await expect(ImageFolderDataset.load(join(folder, 'nope'))).rejects.toThrow(DatasetError);
  });

  it('resized items are whole images resized as tf.image.resizeBilinear (half-pixel centres) does, flipped when drawn', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'lic-ds-'));
    const image = gradient(30, 50);
    await writeImage(join(folder, '1.png'), image);
    const ds = await ImageFolderDataset.load(folder);
    const stored = tf.div(tf.tensor4d(Float32Array.from(ds.images[0]!.data), [1, 30, 50, 3]), 255) as tf.Tensor4D;
    const expected = tf.image.resizeBilinear(stored, [16, 16], false, true);
    const got = tf.tensor4d(ds.resizedData(createRng(1), 6, 16, { flip: true }), [6, 16, 16, 3]);
    const flips = [0, 1, 2, 3, 4, 5].map((b) => (tf.max(tf.abs(tf.sub(tf.slice(got, [b, 0, 0, 0], [1, -1, -1, -1]), expected))).arraySync() as number) > 1e-5);
    for (const [b, flipped] of flips.entries()) {
      const want = flipped ? tf.reverse(expected, 2) : expected;
      expect(tf.max(tf.abs(tf.sub(tf.slice(got, [b, 0, 0, 0], [1, -1, -1, -1]), want))).arraySync()).toBeLessThan(1e-5);
    }
    expect(new Set(flips).size).toBe(2);
    expect([...ds.resizedData(createRng(1), 6, 16, { flip: true })]).toEqual([...got.dataSync()]);
  });

  it('scaled crops are crops of the image resized by the scale, flipped when drawn; too small a result is an error', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'lic-ds-'));
    await writeImage(join(folder, '1.png'), gradient(40, 60));
    const ds = await ImageFolderDataset.load(folder);
    const stored = tf.div(tf.tensor4d(Float32Array.from(ds.images[0]!.data), [1, 40, 60, 3]), 255) as tf.Tensor4D;
    const resized = tf.image.resizeBilinear(stored, [20, 30], false, true);
    const got = tf.tensor4d(ds.scaledCropData(createRng(2), 8, 16, 0.5, { flip: true }), [8, 16, 16, 3]);
    // every item is one of the 16 x 16 windows of the half-size image, or its mirror image
    const windows = [];
    for (let top = 0; top <= 4; top++) for (let left = 0; left <= 14; left++) windows.push(tf.slice(resized, [0, top, left, 0], [1, 16, 16, 3]));
    for (let b = 0; b < 8; b++) {
      const item = tf.slice(got, [b, 0, 0, 0], [1, -1, -1, -1]);
      const distance = Math.min(...windows.flatMap((w) => [w, tf.reverse(w, 2)].map((v) => tf.max(tf.abs(tf.sub(item, v))).arraySync() as number)));
      expect(distance).toBeLessThan(1e-5);
    }
    expect([...ds.scaledCropData(createRng(2), 8, 16, 0.5, { flip: true })]).toEqual([...got.dataSync()]);
    expect(() => ds.scaledCropData(createRng(2), 1, 24, 0.5)).toThrow(/30x20 at scale 0.5: smaller than the crop size 24/);
  });
});

describe('safetensors', () => {
  it('round-trips F32, I32 and U8 arrays and metadata, with atomic writes', async () => {
    const file = join(dir, 'w.safetensors');
    await writeSafetensors(
      file,
      {
        'g_a.0.weight': { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 4, 5, 6]) },
        'entropy_bottleneck._offset': { shape: [2], data: new Int32Array([-7, 9]) },
        flags: { shape: [3], data: new Uint8Array([1, 0, 1]) },
      },
      { format: 'pt' },
    );
    const read = await readSafetensors(file);
    expect(read.metadata).toEqual({ format: 'pt' });
    expect(read.tensors['g_a.0.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 4, 5, 6]) });
    expect(read.tensors['entropy_bottleneck._offset']!.data).toEqual(new Int32Array([-7, 9]));
    expect(read.tensors.flags!.dtype).toBe('U8');
    const bytes = await readFile(file);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
  });

  it('reads F16, BF16 and I64 as PyTorch writes them', () => {
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
      b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
      l: { dtype: 'I64', shape: [1], data_offsets: [6, 14] },
    });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const data = Buffer.alloc(14);
    data.writeUInt16LE(0x3c00, 0); // 1.0
    data.writeUInt16LE(0xc000, 2); // -2.0
    data.writeUInt16LE(0x3fc0, 4); // bf16 1.5
    data.writeBigInt64LE(-5n, 6);
    const parsed = parseSafetensors(Buffer.concat([len, Buffer.from(header), data]));
    expect([...parsed.tensors.h!.data]).toEqual([1, -2]);
    expect([...parsed.tensors.b!.data]).toEqual([1.5]);
    expect([...parsed.tensors.l!.data]).toEqual([-5]);
  });

  it('floatToHalf inverts halfToFloat on every half value and rounds to nearest even', () => {
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (!nan && floatToHalf(halfToFloat(h)) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
    expect(halfToFloat(floatToHalf(1 + 2 ** -11))).toBe(1); // tie -> even mantissa
    expect(halfToFloat(floatToHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(halfToFloat(floatToHalf(65519))).toBe(65504);
    expect(halfToFloat(floatToHalf(65520))).toBe(Infinity);
    expect(floatToHalf(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal -> 0
    expect(floatToHalf(1.5 * 2 ** -25)).toBe(1);
    expect(floatToHalf(-(2 ** -30))).toBe(0x8000);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
    const rng = createRng(3);
    let worst = 0; // error in units of the half ulp at v
    for (let i = 0; i < 10000; i++) {
      const v = Math.fround((rng.next() - 0.5) * 2 ** Math.floor(rng.next() * 30 - 20));
      const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(v))), -14) - 10);
      worst = Math.max(worst, Math.abs(halfToFloat(floatToHalf(v)) - v) / ulp);
    }
    expect(worst).toBeGreaterThan(0.4);
    expect(worst).toBeLessThanOrEqual(0.5);
  });

  it('half: float tensors are written as F16, integer tensors unchanged', () => {
    const values = new Float32Array([0.1, -3.75, 1e-6, 300.2]);
    const bytes = serializeSafetensors({ w: { shape: [4], data: values }, t: { shape: [2], data: new Int32Array([-7, 9]) } }, { step: '1' }, { half: true });
    const read = parseSafetensors(bytes);
    expect(read.tensors.w!.dtype).toBe('F16');
    expect([...read.tensors.w!.data]).toEqual([...values].map((v) => halfToFloat(floatToHalf(v))));
    expect(read.tensors.t!.dtype).toBe('I32');
    expect([...read.tensors.t!.data]).toEqual([-7, 9]);
    expect(bytes.length).toBeLessThan(serializeSafetensors({ w: { shape: [4], data: values }, t: { shape: [2], data: new Int32Array([-7, 9]) } }, { step: '1' }).length);
    const some = parseSafetensors(serializeSafetensors({ w: { shape: [4], data: values }, b: { shape: [1], data: new Float32Array([2 ** -36]) } }, {}, { half: (name) => name === 'w' }));
    expect(some.tensors.w!.dtype).toBe('F16');
    expect(some.tensors.b!.dtype).toBe('F32');
    expect([...some.tensors.b!.data]).toEqual([2 ** -36]);
  });

  it('truncated or inconsistent files are errors', () => {
    const good = serializeSafetensors({ a: { shape: [4], data: new Float32Array(4) } });
    expect(() => parseSafetensors(good.subarray(0, good.length - 1), 'x.safetensors')).toThrow(/x\.safetensors.*data offsets/);
    expect(() => parseSafetensors(good.subarray(0, 5))).toThrow(/shorter/);
    expect(() => serializeSafetensors({ a: { shape: [3], data: new Float32Array(4) } })).toThrow(/4 values for shape \[3\]/);
  });
});
