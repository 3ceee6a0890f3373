import * as tf from '@tensorflow/tfjs-core';
import { FactorizedCodec, HyperpriorCodec, padCentred } from '@lic-backdoor/codecs';
import type { CodecV1 } from '@lic-backdoor/core';
import { bitsPerPixelPerExample } from '@lic-backdoor/objectives';

/**
 * Where a backdoored encoder's clean bits go on one image. Rates are estimates from the rounded
 * latents' likelihoods (what the entropy coder approaches: 0.2-0.4% below the real streams on kodim01/05/23),
 * in bits per pixel of the image, y and z together.
 */
export interface CleanDrift {
  /** The original codec's rate. */
  bpp: number;
  /** The backdoored encoder's rate. */
  backdoored: number;
  /** Hyperprior models: the backdoored y with the original h_a's z, h_a(y_backdoored): what the drift of y alone costs. */
  yOnly?: number;
  /** Hyperprior models: the original y with the backdoored encoder's z, whose scales (and means) code it: what the drift of z alone costs. */
  zOnly?: number;
  /** MSE(y_backdoored - y) / Var(y): the drift of the latents, relative to their variance. */
  yDrift: number;
  /** Hyperprior models: MSE(z_backdoored - z) / Var(z), the drift of the hyper-latents. */
  zDrift?: number;
}

/** The drift of `x - reference` relative to the reference's variance. */
function relativeDrift(x: tf.Tensor, reference: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.mean(tf.square(tf.sub(x, reference))), tf.moments(reference).variance).dataSync()[0]!);
}

/** Bits per pixel of one image's likelihoods (y and, when present, z). */
function bpp(likelihoods: Record<string, tf.Tensor>, pixels: number): number {
  return tf.tidy(() => bitsPerPixelPerExample(likelihoods, pixels).dataSync()[0]!);
}

/**
 * `CleanDrift` of one image (1 x H x W x 3 in [0, 1]) between an original learned codec and the
 * same codec with a backdoored encoder side (tfjs codecs: `createCodec`, `createBackdooredCodec`).
 * The image is padded as the codecs pad it.
 */
export function cleanDrift(original: CodecV1, backdoored: CodecV1, image: tf.Tensor4D): CleanDrift {
  const pixels = image.shape[1] * image.shape[2];
  const { padded } = padCentred(image);
  try {
    if (original instanceof HyperpriorCodec && backdoored instanceof HyperpriorCodec) {
      const [o, b] = [original.model, backdoored.model];
      return tf.tidy(() => {
        const [y, yB] = [o.analysis(padded), b.analysis(padded)];
        const [z, zB] = [o.hyperAnalysis(y), b.hyperAnalysis(yB)];
        // every rate through the original's entropy models (the decoder side the victim runs)
        const rate = (yy: tf.Tensor4D, zz: tf.Tensor4D) => bpp(o.entropyPass(yy, zz).likelihoods, pixels);
        return {
          bpp: rate(y, z),
          backdoored: rate(yB, zB),
          yOnly: rate(yB, o.hyperAnalysis(yB)),
          zOnly: rate(y, zB),
          yDrift: relativeDrift(yB, y),
          zDrift: relativeDrift(zB, z),
        };
      });
    }
    if (original instanceof FactorizedCodec && backdoored instanceof FactorizedCodec) {
      const [o, b] = [original.model, backdoored.model];
      return tf.tidy(() => {
        const [y, yB] = [o.analysis(padded), b.analysis(padded)];
        const rate = (latent: tf.Tensor4D) => bpp({ y: o.entropyBottleneck.forward(latent).likelihoods }, pixels);
        return { bpp: rate(y), backdoored: rate(yB), yDrift: relativeDrift(yB, y) };
      });
    }
    throw new Error(`cleanDrift needs two learned codecs of the same kind (tfjs), got ${original.id} and ${backdoored.id}`);
  } finally {
    padded.dispose();
  }
}
