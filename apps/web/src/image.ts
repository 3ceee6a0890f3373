import type { RgbImage } from '@lic-backdoor/core';

/** Largest image the page codes: its tfjs-wasm heap (triggers, metrics) gives out near 3 megapixels. */
export const MAX_MEGAPIXELS = 2.5;

/** The file's format from its first bytes: PNG, JPEG, WebP, or undefined. */
export function sniffFormat(bytes: Uint8Array): 'png' | 'jpeg' | 'webp' | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes[0] === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/**
 * Decodes an image file to 8-bit RGB as the CLI reads it (alpha dropped, no colour management),
 * or throws a message that says what was wrong with the file.
 */
export async function decodeImageFile(bytes: Uint8Array, name: string): Promise<RgbImage> {
  const format = sniffFormat(bytes);
  if (!format) throw new Error(`${name}: not a PNG, JPEG or WebP file (the page reads those three)`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: `image/${format}` }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`${name}: the browser cannot decode this ${format.toUpperCase()} file (damaged or truncated?)`);
  }
  const { width, height } = bitmap;
  if ((width * height) / 1e6 > MAX_MEGAPIXELS) {
    bitmap.close();
    throw new Error(`${name}: ${width} × ${height} is ${((width * height) / 1e6).toFixed(1)} megapixels; the page codes images up to ${MAX_MEGAPIXELS} (the CLI takes larger ones)`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) {
    data[i] = rgba[j]!;
    data[i + 1] = rgba[j + 1]!;
    data[i + 2] = rgba[j + 2]!;
  }
  return { data, width, height };
}
