import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage, type BackendName, type PluginReference } from '@lic-backdoor/core';
import { loadRegistry } from '../plugins.js';
import { parseJsonOption } from '../json-option.js';

/**
 * `lic-backdoor inspect IMAGE --transform ID`: applies a transform plugin to an image and reports
 * the output's layout, shape, per-channel statistics and the round-trip error of its inverse.
 */
export async function inspect(image: string, options: { transform: string; options?: string; json?: boolean; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: options.backend });
  const parsed = parseJsonOption(options.options);
  const registry = await loadRegistry();
  const reference: PluginReference = [options.transform, parsed];
  const transform = await registry.create('transform', reference);
  const x = await readImage(image);
  const y = transform.forward(x);
  const back = transform.inverse(y);
  const channels = y.shape[y.shape.length - 1]!;
  const flat = tf.reshape(y, [-1, channels]);
  const { mean, variance } = tf.moments(flat, 0);
  const result = {
    image,
    transform: transform.id,
    outputLayout: transform.outputLayout,
    shape: y.shape,
    channelMean: Array.from(await mean.data()),
    channelStd: Array.from(await tf.sqrt(variance).data()),
    roundTripMaxError: (await tf.max(tf.abs(tf.sub(back, x))).data())[0]!,
  };
  if (options.json) console.log(JSON.stringify(result));
  else {
    console.log(`${result.transform}: ${result.outputLayout}`);
    console.log(`shape          [${result.shape.join(', ')}]`);
    console.log(`channel mean   ${result.channelMean.map((v) => v.toFixed(3)).join(', ')}`);
    console.log(`channel std    ${result.channelStd.map((v) => v.toFixed(3)).join(', ')}`);
    console.log(`round trip     max |inverse(forward(x)) - x| = ${result.roundTripMaxError.toExponential(2)}`);
  }
}
