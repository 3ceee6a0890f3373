import * as tf from '@tensorflow/tfjs-core';
import type { CodecForwardResult } from '@lic-backdoor/core';
// the subpath: the codec classes need only the noise, not the training threads (the browser page bundles them)
import { perExampleUniform, type Trainable } from '@lic-backdoor/training/trainable';
import { FactorizedPrior } from './models/factorized.js';
import { HyperpriorModel } from './models/hyperprior.js';
import type { StateDict } from './models/state-dict.js';

/** The models of this package's codec plugins, by plugin name. */
const MODELS = {
  'bmshj2018-factorized': (N: number, M: number, seed: number) => new FactorizedPrior(N, M, seed),
  'bmshj2018-hyperprior': (N: number, M: number, seed: number) => new HyperpriorModel('scale', N, M, seed),
  'mbt2018-mean': (N: number, M: number, seed: number) => new HyperpriorModel('mean-scale', N, M, seed),
} as const;

/** Options of a codec being trained (what `train-codec` passes to every worker, `CodecTrainingV1`). */
export interface CodecTrainingOptions {
  /** The codec plugin's name. */
  model: keyof typeof MODELS;
  N: number;
  M: number;
  /** Rate-distortion trade-off: loss = bpp + lambda x 255^2 x MSE (CompressAI's RateDistortionLoss). */
  lambda: number;
  seed: number;
}

/**
 * Additive uniform noise for a training pass of `model` on a [B, H, W, 3] batch (H, W multiples
 * of 64), drawn per example from `seeds` so that it does not depend on how a batch is split.
 */
export function trainingNoise(model: FactorizedPrior | HyperpriorModel, shape: readonly number[], seeds: readonly number[]): { y: tf.Tensor; z?: tf.Tensor } {
  const [b, h, w] = shape as [number, number, number];
  const y = perExampleUniform([b, h / 16, w / 16, model.M], seeds);
  if (model instanceof FactorizedPrior) return { y };
  return { y, z: perExampleUniform([b, h / 64, w / 64, model.N], seeds.map((s) => (s ^ 0x5bd1e995) >>> 1)) };
}

/** A training-mode forward pass with per-example noise. */
export function noisyForward(model: FactorizedPrior | HyperpriorModel, x: tf.Tensor4D, seeds: readonly number[]): CodecForwardResult {
  const noise = trainingNoise(model, x.shape, seeds);
  return model instanceof FactorizedPrior ? model.forward(x, noise.y) : model.forward(x, { y: noise.y, z: noise.z! });
}

/** `CodecV1.forward` of the learned codecs: noise from `seeds` (random ones when absent) in training, rounding otherwise. */
export function trainingPass(model: FactorizedPrior | HyperpriorModel, x: tf.Tensor4D, options: { training: boolean; seeds?: readonly number[] }): CodecForwardResult {
  if (!options.training) return model.forward(x);
  return noisyForward(model, x, options.seeds ?? Array.from({ length: x.shape[0] }, () => Math.floor(Math.random() * 2 ** 31)));
}

/** What `CodecTrainingV1` asks of a codec's trainable (the model is kept too, for this package's tests). */
export interface CodecTrainable extends Trainable {
  model: FactorizedPrior | HyperpriorModel;
  stateDict(): StateDict;
  loadStateDict(state: StateDict): void;
  updateTables(): void;
}

/** The model plus its trainable view (`CodecTrainingV1`). */
export function createCodecTrainable(options: CodecTrainingOptions): CodecTrainable {
  const make = MODELS[options.model];
  if (!make) throw new Error(`Unknown model '${options.model}'. Available: ${Object.keys(MODELS).join(', ')}`);
  const model = make(options.N, options.M, options.seed);
  const eb = model.entropyBottleneck;
  return {
    model,
    groups: {
      main: {
        variables: [...model.encoderVariables(), ...model.decoderVariables(), ...eb.densityVariables()],
        loss: ({ x, seeds }) => {
          const [b, h, w] = x.shape;
          const out = noisyForward(model, x, seeds);
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
    stateDict: () => model.stateDict(),
    loadStateDict: (state) => model.loadStateDict(state),
    updateTables: () => model.entropyBottleneck.update(),
    dispose: () => model.dispose(),
  };
}

/** Entry point for the data-parallel engine's workers. */
export function createTrainable(options: unknown): Trainable {
  return createCodecTrainable(options as CodecTrainingOptions);
}
