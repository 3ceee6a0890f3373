import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readImage, type EvaluatorV1, type Metric } from '@lic-backdoor/core';
import { createSession, defaultCacheDir, fetchModel, findModel, type OnnxSession } from '@lic-backdoor/onnx';

/** The standard 112x112 five-point template: eye centres (image left, right), nose tip, mouth corners. */
export const FACE_TEMPLATE: readonly [number, number][] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

export const FACE_DEFINITION =
  'face_identity_rate: share of faces whose decoded version still verifies as the original person: cosine similarity (after subtracting the calibration mean embedding) between the MobileFaceNet embeddings of the aligned original and decoded faces >= the threshold calibrated on faces/johns at <= 1% false accepts';

/** A detected face: box corners in pixels, detector score, five alignment points. */
export interface Face {
  box: [number, number, number, number];
  score: number;
  points: [number, number][];
}

/** An 8-bit-range RGB image as row-major [H, W, 3] floats 0-255. */
interface Pixels {
  data: Float32Array;
  height: number;
  width: number;
}

async function pixels(image: tf.Tensor4D): Promise<Pixels> {
  const [, height, width] = image.shape;
  const data = (await tf.tidy(() => tf.mul(tf.clipByValue(image, 0, 1), 255)).data()) as Float32Array;
  return { data, height, width };
}

function bilinear(p: Pixels, x: number, y: number, c: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (xx: number, yy: number) => (xx < 0 || yy < 0 || xx >= p.width || yy >= p.height ? 0 : p.data[(yy * p.width + xx) * 3 + c]!);
  return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
}

/** Least-squares similarity transform (Umeyama) mapping `src` points onto `dst`: [a, -b, tx; b, a, ty]. */
export function similarityTransform(src: readonly [number, number][], dst: readonly [number, number][]): [number, number, number, number] {
  const n = src.length;
  const mean = (pts: readonly [number, number][]) => pts.reduce(([sx, sy], [x, y]) => [sx + x / n, sy + y / n], [0, 0]);
  const [msx, msy] = mean(src);
  const [mdx, mdy] = mean(dst);
  let num1 = 0;
  let num2 = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const [sx, sy] = [src[i]![0] - msx, src[i]![1] - msy];
    const [dx, dy] = [dst[i]![0] - mdx, dst[i]![1] - mdy];
    num1 += sx * dx + sy * dy;
    num2 += sx * dy - sy * dx;
    den += sx * sx + sy * sy;
  }
  const a = num1 / den;
  const b = num2 / den;
  return [a, b, mdx - (a * msx - b * msy), mdy - (b * msx + a * msy)];
}

/**
 * Face detection (ULFD RFB-320), 68-point landmarks, five-point alignment to 112x112 and
 * MobileFaceNet embeddings, all through onnxruntime-node.
 */
export class FacePipeline {
  private constructor(
    private readonly detector: OnnxSession,
    private readonly landmarker: OnnxSession,
    private readonly embedder: OnnxSession,
  ) {}

  static async create(cacheDir = defaultCacheDir()): Promise<FacePipeline> {
    const load = async (name: string) => new Uint8Array(await readFile(await fetchModel(findModel(name), cacheDir)));
    return FacePipeline.fromModels({ detector: await load('face-detector'), landmarks: await load('face-landmarks'), embedding: await load('face-embedding') });
  }

  /** The pipeline from the three models' bytes (`models fetch` caches them; a browser gets them from the user). */
  static async fromModels(models: { detector: Uint8Array; landmarks: Uint8Array; embedding: Uint8Array }): Promise<FacePipeline> {
    return new FacePipeline(await createSession(models.detector), await createSession(models.landmarks), await createSession(models.embedding));
  }

  /** Faces with score > 0.7 after non-maximum suppression at IoU 0.4, best first. */
  async detect(image: tf.Tensor4D, minScore = 0.7): Promise<Face[]> {
    const [, h, w] = image.shape;
    const input = tf.tidy(() => tf.transpose(tf.div(tf.sub(tf.mul(tf.image.resizeBilinear(image, [240, 320], false, true), 255), 127), 128), [0, 3, 1, 2]));
    const out = await this.detector.run({ input: { data: (await input.data()) as Float32Array, dims: [1, 3, 240, 320] } });
    input.dispose();
    const scores = out.scores!.data;
    const boxes = out.boxes!.data;
    const candidates: number[] = [];
    for (let i = 0; i < scores.length / 2; i++) if (scores[2 * i + 1]! > minScore) candidates.push(i);
    if (!candidates.length) return [];
    const keep = tf.tidy(() =>
      tf.image.nonMaxSuppression(
        tf.tensor2d(candidates.flatMap((i) => [boxes[4 * i + 1]!, boxes[4 * i]!, boxes[4 * i + 3]!, boxes[4 * i + 2]!]), [candidates.length, 4]),
        tf.tensor1d(candidates.map((i) => scores[2 * i + 1]!)),
        20,
        0.4,
      ),
    );
    const kept = Array.from(await keep.data());
    keep.dispose();
    const faces: Face[] = [];
    for (const k of kept) {
      const i = candidates[k]!;
      const box: Face['box'] = [boxes[4 * i]! * w, boxes[4 * i + 1]! * h, boxes[4 * i + 2]! * w, boxes[4 * i + 3]! * h];
      faces.push({ box, score: scores[2 * i + 1]!, points: await this.fivePoints(image, box) });
    }
    return faces;
  }

  /** Eye centres, nose tip and mouth corners from the 68 landmarks of a square crop around the box. */
  private async fivePoints(image: tf.Tensor4D, [x1, y1, x2, y2]: Face['box']): Promise<[number, number][]> {
    const [, h, w] = image.shape;
    const side = Math.max(x2 - x1, y2 - y1);
    const [cx, cy] = [(x1 + x2) / 2, (y1 + y2) / 2];
    const [bx, by] = [cx - side / 2, cy - side / 2];
    const grey = tf.tidy(() => {
      const crop = tf.image.cropAndResize(image, [[by / h, bx / w, (by + side) / h, (bx + side) / w]], [0], [64, 64]);
      return tf.sum(tf.mul(crop, tf.tensor1d([0.299, 0.587, 0.114])), 3);
    });
    const out = await this.landmarker.run({ input: { data: (await grey.data()) as Float32Array, dims: [1, 1, 64, 64] } });
    grey.dispose();
    const p = out[this.landmarker.outputNames[0]!]!.data;
    const pt = (i: number): [number, number] => [bx + p[2 * i]! * side, by + p[2 * i + 1]! * side];
    const centre = (from: number, to: number): [number, number] => {
      const pts = Array.from({ length: to - from + 1 }, (_, k) => pt(from + k));
      return [pts.reduce((s, q) => s + q[0], 0) / pts.length, pts.reduce((s, q) => s + q[1], 0) / pts.length];
    };
    return [centre(36, 41), centre(42, 47), pt(30), pt(48), pt(54)];
  }

  /** The 112x112 aligned face (bilinear warp by the similarity transform of its five points). */
  async align(image: tf.Tensor4D, face: Face): Promise<Float32Array> {
    const p = await pixels(image);
    const [a, b, tx, ty] = similarityTransform(face.points, FACE_TEMPLATE);
    const det = a * a + b * b;
    const out = new Float32Array(112 * 112 * 3);
    for (let v = 0; v < 112; v++)
      for (let u = 0; u < 112; u++) {
        const [du, dv] = [u - tx, v - ty];
        const x = (a * du + b * dv) / det;
        const y = (-b * du + a * dv) / det;
        for (let c = 0; c < 3; c++) out[(v * 112 + u) * 3 + c] = bilinear(p, x, y, c);
      }
    return out;
  }

  /** L2-normalised 512-d embedding of an aligned face ([112, 112, 3], 0-255). */
  async embed(aligned: Float32Array): Promise<Float32Array> {
    const nchw = new Float32Array(3 * 112 * 112);
    for (let i = 0; i < 112 * 112; i++) for (let c = 0; c < 3; c++) nchw[c * 112 * 112 + i] = (aligned[i * 3 + c]! - 127) / 128;
    const out = await this.embedder.run({ input: { data: nchw, dims: [1, 3, 112, 112] } });
    return normalise(out[this.embedder.outputNames[0]!]!.data);
  }

  /** Embedding of the most confident face of an image (undefined when none is found). */
  async embedImage(image: tf.Tensor4D, face?: Face): Promise<Float32Array | undefined> {
    const f = face ?? (await this.detect(image))[0];
    return f ? this.embed(await this.align(image, f)) : undefined;
  }

  async release(): Promise<void> {
    await Promise.all([this.detector.release(), this.landmarker.release(), this.embedder.release()]);
  }
}

export function normalise(v: ArrayLike<number>): Float32Array {
  const n = Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0)) || 1;
  return Float32Array.from(v, (x) => x / n);
}

/** Cosine similarity after subtracting `mean` from both embeddings. */
export function centredCosine(a: Float32Array, b: Float32Array, mean?: Float32Array): number {
  const ca = mean ? normalise(a.map((x, i) => x - mean[i]!)) : a;
  const cb = mean ? normalise(b.map((x, i) => x - mean[i]!)) : b;
  return ca.reduce((s, x, i) => s + x * cb[i]!, 0);
}

/** A verification threshold from labelled embeddings: the lowest one with <= `far` false accepts. */
export interface Calibration {
  mean: Float32Array;
  threshold: number;
  trueAcceptRate: number;
  falseAcceptRate: number;
  genuinePairs: number;
  impostorPairs: number;
  /** Leave-one-out nearest-neighbour identification: correct / total. */
  identification: [number, number];
}

export function calibrate(embeddings: Float32Array[], labels: string[], far = 0.01): Calibration {
  const mean = new Float32Array(embeddings[0]!.length);
  for (const e of embeddings) e.forEach((x, i) => (mean[i]! += x / embeddings.length));
  const genuine: number[] = [];
  const impostor: number[] = [];
  const sims = embeddings.map((a) => embeddings.map((b) => centredCosine(a, b, mean)));
  for (let i = 0; i < embeddings.length; i++) for (let j = i + 1; j < embeddings.length; j++) (labels[i] === labels[j] ? genuine : impostor).push(sims[i]![j]!);
  const sortedImpostor = [...impostor].sort((p, q) => q - p);
  const allowed = Math.floor(far * impostor.length);
  const threshold = (sortedImpostor[allowed] ?? -1) + 1e-6;
  let correct = 0;
  for (let i = 0; i < embeddings.length; i++) {
    let best = -Infinity;
    let who = '';
    for (let j = 0; j < embeddings.length; j++) if (j !== i && sims[i]![j]! > best) [best, who] = [sims[i]![j]!, labels[j]!];
    if (who === labels[i]) correct++;
  }
  return {
    mean,
    threshold,
    trueAcceptRate: genuine.filter((s) => s >= threshold).length / genuine.length,
    falseAcceptRate: impostor.filter((s) => s >= threshold).length / impostor.length,
    genuinePairs: genuine.length,
    impostorPairs: impostor.length,
    identification: [correct, embeddings.length],
  };
}

/** Embeddings and labels (folder names) of a labelled face folder: <dir>/<identity>/*.jpg. */
export async function embedFolder(pipeline: FacePipeline, dir: string): Promise<{ embeddings: Float32Array[]; labels: string[]; missed: string[] }> {
  const embeddings: Float32Array[] = [];
  const labels: string[] = [];
  const missed: string[] = [];
  for (const who of (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    for (const file of (await readdir(join(dir, who))).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort()) {
      const image = await readImage(join(dir, who, file));
      const e = await pipeline.embedImage(image);
      image.dispose();
      if (e) {
        embeddings.push(e);
        labels.push(who);
      } else missed.push(join(who, file));
    }
  }
  return { embeddings, labels, missed };
}

/** `evaluator:face-recognition`: does the decoded face still verify as the original person? */
export class FaceRecognitionEvaluator implements EvaluatorV1 {
  readonly specificationVersion = 'v1';
  readonly id = 'evaluator:face-recognition';

  /** The originals' embeddings (undefined: no face found), by tensor: an original compared with several decodings is embedded once. */
  private readonly originals = new WeakMap<tf.Tensor4D, Float32Array | undefined>();

  constructor(
    readonly pipeline: FacePipeline,
    readonly calibration: Calibration,
  ) {}

  private async original(x: tf.Tensor4D): Promise<Float32Array | undefined> {
    if (this.originals.has(x)) return this.originals.get(x);
    const face = (await this.pipeline.detect(x))[0];
    const e = face && (await this.pipeline.embed(await this.pipeline.align(x, face)));
    this.originals.set(x, e);
    return e;
  }

  async evaluate(original: readonly tf.Tensor4D[], decoded: readonly tf.Tensor4D[]): Promise<Record<string, Metric>> {
    if (original.length !== decoded.length || !original.length) throw new RangeError(`need pairs of images, got ${original.length} and ${decoded.length}`);
    let same = 0;
    let faces = 0;
    for (let i = 0; i < original.length; i++) {
      const a = await this.original(original[i]!);
      if (!a) continue;
      faces++;
      // the victim detects and aligns the decoded image on its own; no face found counts as lost
      const b = await this.pipeline.embedImage(decoded[i]!);
      if (b && centredCosine(a, b, this.calibration.mean) >= this.calibration.threshold) same++;
    }
    return {
      face_identity_rate: { value: faces ? same / faces : 0, unit: 'ratio', definition: FACE_DEFINITION },
      faces_evaluated: { value: faces, unit: '', definition: 'images in which the detector found a face (score > 0.7), of those given' },
      verification_threshold: { value: this.calibration.threshold, unit: 'cosine', definition: 'centred-cosine threshold at <= 1% false accepts on faces/johns' },
    };
  }

  dispose(): Promise<void> {
    return this.pipeline.release();
  }
}
