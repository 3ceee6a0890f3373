import * as tf from '@tensorflow/tfjs-core';
import { perExampleUniform, type Trainable } from '@lic-backdoor/training';
import { FactorizedPrior } from './models/factorized.js';
import { HyperpriorModel } from './models/hyperprior.js';

/** Learned models `train-codec` can train. */
export const TRAINABLE_MODELS = ['bmshj2018-factorized', 'bmshj2018-hyperprior', 'mbt2018-mean'] as const;

/** Options of a codec being trained (what `train-codec` passes to every worker). */
export interface CodecTrainingOptions {
  model: (typeof TRAINABLE_MODELS)[number];
  N: number;
  M: number;
  /** Rate-distortion trade-off: loss = bpp + lambda x 255^2 x MSE (CompressAI's RateDistortionLoss). */
  lambda: number;
  seed: number;
}

/** The model plus its trainable view; the model is kept to read the state dict after training. */
export function createCodecTrainable(options: CodecTrainingOptions): Trainable & { model: FactorizedPrior | HyperpriorModel } {
  if (!TRAINABLE_MODELS.includes(options.model)) throw new Error(`Unknown model '${options.model}'. Available: ${TRAINABLE_MODELS.join(', ')}`);
  const model =
    options.model === 'bmshj2018-factorized'
      ? new FactorizedPrior(options.N, options.M, options.seed)
      : new HyperpriorModel(options.model === 'mbt2018-mean' ? 'mean-scale' : 'scale', options.N, options.M, options.seed);
  const eb = model.entropyBottleneck;
  return {
    model,
    groups: {
      main: {
        variables: [...model.encoderVariables(), ...model.decoderVariables(), ...eb.densityVariables()],
        loss: ({ x, seeds }) => {
          const [b, h, w] = x.shape;
          const yNoise = perExampleUniform([b, h / 16, w / 16, options.M], seeds);
          const out =
            model instanceof FactorizedPrior
              ? model.forward(x, yNoise)
              : model.forward(x, { y: yNoise, z: perExampleUniform([b, h / 64, w / 64, options.N], seeds.map((s) => (s ^ 0x5bd1e995) >>> 1)) });
          const nats = Object.values(out.likelihoods).map((l) => tf.sum(tf.neg(tf.log(l))));
          const bits = tf.div(tf.addN(nats), Math.LN2);
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
