import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@lic-backdoor/core';
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

interface Conv {
  weight: tf.Variable;
  bias: tf.Variable;
}

interface Gdn {
  beta: tf.Variable;
  gamma: tf.Variable;
}

/**
 * Factorized-prior autoencoder for timing training steps: encoder four 5x5 stride-2 convs
 * 3->N->N->N->M with GDN after the first three; decoder mirrored with 5x5 stride-2 transposed
 * convs and inverse GDN. Padding 2 and output padding 1 as in CompressAI.
 */
export class FactorizedAutoencoder {
  readonly encoder: { conv: Conv[]; gdn: Gdn[] };
  readonly decoder: { conv: Conv[]; gdn: Gdn[] };

  constructor(readonly config: AutoencoderConfig) {
    const rng = createRng(config.seed);
    const { N, M } = config;
    const conv = (cin: number, cout: number, transpose: boolean): Conv => {
      const std = Math.sqrt(2 / (25 * cin));
      const shape: [number, number, number, number] = transpose ? [5, 5, cout, cin] : [5, 5, cin, cout];
      return { weight: tf.variable(tf.mul(tf.tensor4d(rng.normalArray(25 * cin * cout), shape), std)), bias: tf.variable(tf.zeros([cout])) };
    };
    const gdn = (c: number): Gdn => ({ beta: tf.variable(tf.ones([c])), gamma: tf.variable(tf.mul(tf.eye(c), 0.1)) });
    this.encoder = { conv: [conv(3, N, false), conv(N, N, false), conv(N, N, false), conv(N, M, false)], gdn: [gdn(N), gdn(N), gdn(N)] };
    this.decoder = { conv: [conv(M, N, true), conv(N, N, true), conv(N, N, true), conv(N, 3, true)], gdn: [gdn(N), gdn(N), gdn(N)] };
  }

  variables(): tf.Variable[] {
    const all: tf.Variable[] = [];
    for (const part of [this.encoder, this.decoder]) {
      for (const c of part.conv) all.push(c.weight, c.bias);
      for (const g of part.gdn) all.push(g.beta, g.gamma);
    }
    return all;
  }

  /** Generalized divisive normalization (inverse: multiply instead of divide). */
  private gdn(x: tf.Tensor4D, g: Gdn, inverse: boolean): tf.Tensor4D {
    const c = x.shape[3];
    const norm = tf.sqrt(tf.add(tf.reshape(tf.matMul(tf.reshape(tf.square(x), [-1, c]), g.gamma), x.shape), g.beta));
    return (inverse ? tf.mul(x, norm) : tf.div(x, norm)) as tf.Tensor4D;
  }

  encode(x: tf.Tensor4D): tf.Tensor4D {
    let h = x;
    this.encoder.conv.forEach((c, i) => {
      h = tf.add(tf.conv2d(h, c.weight as tf.Tensor4D, 2, 2), c.bias) as tf.Tensor4D;
      if (i < 3) h = this.gdn(h, this.encoder.gdn[i]!, false);
    });
    return h;
  }

  decode(y: tf.Tensor4D): tf.Tensor4D {
    let h = y;
    this.decoder.conv.forEach((c, i) => {
      const [n, hh, ww] = h.shape;
      const cout = c.weight.shape[2]!;
      h = tf.add(tf.conv2dTranspose(h, c.weight as tf.Tensor4D, [n, hh * 2, ww * 2, cout], 2, 2), c.bias) as tf.Tensor4D;
      if (i < 3) h = this.gdn(h, this.decoder.gdn[i]!, true);
    });
    return h;
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
