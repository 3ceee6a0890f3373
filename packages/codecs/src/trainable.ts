import * as tf from '@tensorflow/tfjs-core';
import { perExampleUniform, type Trainable } from '@lic-backdoor/training';
import { FactorizedPrior } from './models/factorized.js';

/** Options of a codec being trained (what `train-codec` passes to every worker). */
export interface CodecTrainingOptions {
  model: 'bmshj2018-factorized';
  N: number;
  M: number;
  /** Rate-distortion trade-off: loss = bpp + lambda x 255^2 x MSE (CompressAI's RateDistortionLoss). */
  lambda: number;
  seed: number;
}

/** The model plus its trainable view; the model is kept to read the state dict after training. */
export function createCodecTrainable(options: CodecTrainingOptions): Trainable & { model: FactorizedPrior } {
  const model = new FactorizedPrior(options.N, options.M, options.seed);
  const eb = model.entropyBottleneck;
  return {
    model,
    groups: {
      main: {
        variables: [...model.encoderVariables(), ...model.decoderVariables(), ...eb.densityVariables()],
        loss: ({ x, seeds }) => {
          const [b, h, w] = x.shape;
          const noise = perExampleUniform([b, h / 16, w / 16, options.M], seeds);
          const out = model.forward(x, noise);
          const bits = tf.div(tf.sum(tf.neg(tf.log(out.likelihoods.y!))), Math.LN2);
          const bpp = tf.div(bits, b * h * w) as tf.Scalar;
          const mse = tf.mean(tf.square(tf.sub(out.xHat, x))) as tf.Scalar;
          const loss = tf.add(bpp, tf.mul(options.lambda * 255 ** 2, mse)) as tf.Scalar;
          return { loss, metrics: { bpp, mse } };
        },
      },
      aux: { variables: [eb.quantiles], loss: () => eb.auxLoss() },
    },
    dispose: () => model.dispose(),
  };
}

/** Entry point for the data-parallel engine's workers. */
export function createTrainable(options: unknown): Trainable {
  return createCodecTrainable(options as CodecTrainingOptions);
}
