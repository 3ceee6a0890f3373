import { basename, resolve } from 'node:path';
import { initializeBackend, listImages, readImage, tensorToRgb, writeFileAtomic, type BackendName } from '@lic-backdoor/core';
import { ortCodec } from '@lic-backdoor/onnx';
import { Progress, runEnvironment } from '@lic-backdoor/training';
import { createCodec } from './codec-io.js';

/** One image through both paths. */
export interface CrossDecodeImage {
  image: string;
  /** The tfjs and the onnxruntime encoder wrote the same bytes. */
  sameBytes: boolean;
  /** 8-bit values (of height x width x 3) where decode(tfjs stream by onnxruntime) differs from decode(same stream by tfjs), and where decode(onnxruntime stream by tfjs) differs from decode(same stream by onnxruntime). */
  differingValues: number;
  /** Largest such difference, in 8-bit levels. */
  maxDifference: number;
}

/**
 * `lic-backdoor cross-decode --codec ID [--weights F] --data DIR`: every image is compressed by the
 * tfjs codec and by the same codec run through onnxruntime-node (exported graphs); each stream is
 * decoded by both, and the 8-bit images are compared. Both decoders run the integer g_s, so they
 * must agree on every value: exits 1 when a stream fails to decode through the other path or any
 * 8-bit value differs.
 */
export async function crossDecode(o: { codec: string; weights?: string; data: string; out?: string; backend?: BackendName }): Promise<void> {
  const backend = await initializeBackend({ prefer: o.backend });
  const tfjs = await createCodec(o.codec, { weights: o.weights });
  const ort = await ortCodec(await createCodec(o.codec, { weights: o.weights }));
  const files = await listImages(resolve(o.data));
  const progress = new Progress(`cross-decode ${o.codec}`, files.length, 1);
  const images: CrossDecodeImage[] = [];
  try {
    for (const file of files) {
      const x = await readImage(file);
      const [a, b] = [await tfjs.compress(x), await ort.compress(x)];
      x.dispose();
      let differing = 0;
      let maxDifference = 0;
      for (const bytes of [a.bytes, b.bytes]) {
        const [p, q] = [await tensorToRgb(await tfjs.decompress(bytes)), await tensorToRgb(await ort.decompress(bytes))];
        for (let i = 0; i < p.data.length; i++) {
          const d = Math.abs(p.data[i]! - q.data[i]!);
          if (d) differing++;
          maxDifference = Math.max(maxDifference, d);
        }
      }
      images.push({ image: basename(file), sameBytes: Buffer.from(a.bytes).equals(Buffer.from(b.bytes)), differingValues: differing, maxDifference });
      progress.update(images.length, `${basename(file)}: ${differing} values differ`);
    }
  } finally {
    progress.done();
    tfjs.dispose();
    ort.dispose();
  }
  const summary = {
    codec: o.codec,
    weights: o.weights ? resolve(o.weights) : undefined,
    images: images.length,
    sameBytes: images.filter((i) => i.sameBytes).length,
    identical: images.filter((i) => i.differingValues === 0).length,
    differingValues: images.reduce((s, i) => s + i.differingValues, 0),
    maxDifference: Math.max(...images.map((i) => i.maxDifference)),
    definitions: {
      sameBytes: 'images whose tfjs and onnxruntime encoders wrote byte-identical streams',
      identical: 'images whose two streams each decode to the same 8-bit image through tfjs and through onnxruntime',
      differingValues: '8-bit values, over all images and both streams, where the two decoders differ',
      maxDifference: 'largest difference between the two decoders, 8-bit levels',
    },
    per_image: images,
    environment: runEnvironment(backend),
  };
  if (o.out) await writeFileAtomic(resolve(o.out), JSON.stringify(summary, null, 2));
  console.error(`${summary.identical} of ${summary.images} images identical through both decoders; ${summary.differingValues} values differ, by at most ${summary.maxDifference}`);
  console.log(JSON.stringify({ ...summary, per_image: undefined, environment: undefined }));
  if (summary.differingValues > 0) throw new Error(`the two decoders differ in ${summary.differingValues} values (by up to ${summary.maxDifference} levels): a stream decodes differently through the other path`);
}
