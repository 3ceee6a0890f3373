import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, PluginRegistry, type CodecV1 } from '@lic-backdoor/core';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

test('the factory passes the registry checks; a stream decodes to the image posterized to its levels', async () => {
  const registry = new PluginRegistry(__dirname);
  const codec = (await registry.create('codec', ['@lic-backdoor-example/codec-plugin', { levels: 5 }])) as CodecV1;
  expect([codec.id, codec.learned]).toEqual(['codec:posterize', false]);
  const x = tf.tensor4d([0, 0.1, 0.2, 0.3, 0.49, 0.51, 0.7, 0.9, 1, 0.124, 0.126, 0.5], [1, 2, 2, 3]);
  const e = await codec.compress(x);
  expect([e.height, e.width]).toEqual([2, 2]);
  const y = Array.from((await codec.decompress(e.bytes)).dataSync());
  // 5 levels: 0, 0.25, 0.5, 0.75, 1 (0.124 x 4 rounds to 0, 0.126 x 4 to 1)
  expect(y).toEqual([0, 0, 0.25, 0.25, 0.5, 0.5, 0.75, 1, 1, 0, 0.25, 0.5]);
  await expect(registry.create('codec', ['@lic-backdoor-example/codec-plugin', { levels: 1 }])).rejects.toThrow(/levels/);
});

test('damaged streams fail with a clear error, and a header cannot make it allocate beyond what it claims', async () => {
  const registry = new PluginRegistry(__dirname);
  const codec = (await registry.create('codec', '@lic-backdoor-example/codec-plugin')) as CodecV1;
  const { bytes } = await codec.compress(tf.fill([1, 16, 16, 3], 0.3) as tf.Tensor4D);
  await expect(codec.decompress(bytes.subarray(0, 10))).rejects.toThrow(/bad magic/);
  const cut = bytes.slice(0, bytes.length - 2);
  await expect(codec.decompress(cut)).rejects.toThrow(/damaged|holds/);
  // the same payload under a header claiming 16 x 8: more values than the header allows
  const small = Uint8Array.from(bytes);
  new DataView(small.buffer).setUint32(10, 8);
  await expect(codec.decompress(small)).rejects.toThrow(/damaged|holds/);
  const huge = Uint8Array.from(bytes);
  new DataView(huge.buffer).setUint32(6, 60000);
  new DataView(huge.buffer).setUint32(10, 60000);
  await expect(codec.decompress(huge)).rejects.toThrow(/at most 64 megapixels/);
});
