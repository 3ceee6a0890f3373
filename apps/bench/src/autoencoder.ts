import * as tf from '@tensorflow/tfjs-core';
import { FactorizedPrior } from '@lic-backdoor/codecs';
import { perExampleUniform, type Trainable } from '@lic-backdoor/training';

/** Shape of the benchmark model: bmshj2018-factorized's transforms without its entropy model. */
export interface AutoencoderConfig {
  /** Channels of the hidden layers. */
  N: number;
  /** Channels of the latent. */
  M: number;
  /** Seed of the weight initialisation. */
  seed: number;
}

/**
 * Factorized-prior autoencoder for timing training steps: the analysis and synthesis transforms of
 * the codecs package's bmshj2018-factorized (four 5x5 stride-2 convs 3->N->N->N->M with GDN after
 * the first three; decoder mirrored with transposed convs and inverse GDN), without its entropy
 * model.
 */
export class FactorizedAutoencoder {
  private readonly model: FactorizedPrior;

  constructor(readonly config: AutoencoderConfig) {
    this.model = new FactorizedPrior(config.N, config.M, config.seed);
  }

  variables(): tf.Variable[] {
    return [...this.model.encoderVariables(), ...this.model.decoderVariables()];
  }

  encode(x: tf.Tensor4D): tf.Tensor4D {
    return this.model.analysis(x);
  }

  decode(y: tf.Tensor4D): tf.Tensor4D {
    return this.model.synthesis(y);
  }

  /** Training loss: MSE of the reconstruction from the latent with additive uniform noise. */
  loss(x: tf.Tensor4D, seeds: readonly number[]): tf.Scalar {
    const y = this.encode(x);
    const yTilde = tf.add(y, perExampleUniform(y.shape, seeds)) as tf.Tensor4D;
    return tf.mean(tf.square(tf.sub(this.decode(yTilde), x)));
  }
}

/** Trainable module entry for the data-parallel engine: one `main` group with the MSE loss. */
export function createTrainable(options: unknown): Trainable {
  const model = new FactorizedAutoencoder(options as AutoencoderConfig);
  return { groups: { main: { variables: model.variables(), loss: ({ x, seeds }) => model.loss(x, seeds) } } };
}
