// The downstream tasks a victim runs on decoded images: face recognition and salient-object
// segmentation, on the toolkit's own pipelines (evaluators) in onnxruntime-web. Their ONNX models
// come from the user (files, or a URL folder that serves them), never with the page.
import type * as tf from '@tensorflow/tfjs-core';
import { binaryMiou } from '@lic-backdoor/core';
import { FacePipeline, IsnetSegmenter, centredCosine } from '@lic-backdoor/evaluators';
import { MODEL_CATALOGUE } from '@lic-backdoor/onnx';
import { sha256Hex } from './engine.js';

export interface Backbones {
  face?: FacePipeline;
  segmenter?: IsnetSegmenter;
}

/** ISNet's input size here: 512 x 512, as `evaluate-attack` runs it. */
export const SEGMENTATION_SIZE = 512;

/** The catalogue's files: what `lic-backdoor models fetch` caches, by name. */
export const BACKBONE_FILES = MODEL_CATALOGUE.filter((m) => ['face-detector', 'face-landmarks', 'face-embedding', 'isnet'].includes(m.name)).map((m) => ({ name: m.name, file: m.cacheName, sha256: m.sha256 }));

/**
 * Recognises each given file by its SHA-256 against the catalogue (any name), and builds the face
 * pipeline when all three face models are there and the segmenter when ISNet is; says what was
 * found and what is missing.
 */
export async function loadBackbones(files: { name: string; bytes: Uint8Array }[], current: Backbones): Promise<{ backbones: Backbones; report: string }> {
  const found = new Map<string, Uint8Array>();
  const unknown: string[] = [];
  for (const f of files) {
    const hash = await sha256Hex(f.bytes);
    const model = BACKBONE_FILES.find((m) => m.sha256 === hash);
    if (model) found.set(model.name, f.bytes);
    else unknown.push(f.name);
  }
  const backbones = { ...current };
  const detector = found.get('face-detector');
  const landmarks = found.get('face-landmarks');
  const embedding = found.get('face-embedding');
  if (detector && landmarks && embedding) {
    await current.face?.release();
    backbones.face = await FacePipeline.fromModels({ detector, landmarks, embedding });
  }
  const isnet = found.get('isnet');
  if (isnet) {
    await current.segmenter?.release();
    backbones.segmenter = await IsnetSegmenter.fromModel(isnet, SEGMENTATION_SIZE);
  }
  // files still needed: those of a pipeline that is not loaded, not among these files
  const missing = BACKBONE_FILES.filter((m) => !(m.name === 'isnet' ? backbones.segmenter : backbones.face) && !found.has(m.name)).map((m) => m.file);
  const parts = [`face recognition: ${backbones.face ? 'ready' : 'not loaded'}`, `segmentation: ${backbones.segmenter ? 'ready' : 'not loaded'}`];
  if (unknown.length) parts.push(`not a catalogued backbone (SHA-256 differs): ${unknown.join(', ')}`);
  if (missing.length) parts.push(`missing: ${missing.join(', ')}`);
  return { backbones, report: parts.join('; ') };
}

/**
 * Cosine similarity of the most confident face of each decoded image to the original's (the
 * embeddings are L2-normalised; null where no face is found). `evaluate-attack` turns this into a
 * verdict with a threshold calibrated on a labelled face set; the page shows the similarity.
 */
export async function faceSimilarity(face: FacePipeline, original: tf.Tensor4D, decoded: tf.Tensor4D[]): Promise<(number | null)[]> {
  const reference = await face.embedImage(original);
  if (!reference) return decoded.map(() => null);
  const out: (number | null)[] = [];
  for (const d of decoded) {
    const e = await face.embedImage(d);
    out.push(e ? centredCosine(reference, e) : null);
  }
  return out;
}

/** ISNet's foreground probability of the original and of each decoded image, and each decoding's binary mIoU with the original's mask (seg_agreement_miou). */
export async function segmentationAgreement(segmenter: IsnetSegmenter, original: tf.Tensor4D, decoded: tf.Tensor4D[]): Promise<{ original: Float32Array; masks: Float32Array[]; miou: number[] }> {
  const reference = await segmenter.probability(original);
  const masks: Float32Array[] = [];
  for (const d of decoded) masks.push(await segmenter.probability(d));
  return { original: reference, masks, miou: masks.map((m) => binaryMiou(reference, m)) };
}
