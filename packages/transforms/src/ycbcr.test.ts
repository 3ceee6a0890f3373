import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { PluginRegistry, createRng } from '@lic-backdoor/core';
import { rgbToYcbcr, ycbcrToRgb } from './ycbcr.js';
import { register } from './plugins.js';

beforeAll(() => tf.setBackend('cpu'));

describe('JPEG YCbCr', () => {
  it('maps white, black and pure red to the JFIF values', () => {
    const out = rgbToYcbcr(tf.tensor2d([1, 1, 1, 0, 0, 0, 1, 0, 0], [3, 3])).arraySync() as number[][];
    expect(out[0]![0]).toBeCloseTo(255, 3);
    expect(out[0]![1]).toBeCloseTo(128, 3);
    expect(out[0]![2]).toBeCloseTo(128, 3);
    expect(out[1]).toEqual([0, 128, 128]);
    expect(out[2]![0]).toBeCloseTo(76.245, 3);
    expect(out[2]![1]).toBeCloseTo(84.972, 3);
    expect(out[2]![2]).toBeCloseTo(255.5, 3);
  });

  it.each([false, true])('round-trips RGB within 1e-5 (centered = %s)', (centered) => {
    const x = tf.tensor4d(createRng(2).uniformArray(2 * 8 * 8 * 3), [2, 8, 8, 3]);
    const back = ycbcrToRgb(rgbToYcbcr(x, { centered }), { centered });
    expect(tf.max(tf.abs(tf.sub(back, x))).arraySync()).toBeLessThan(1e-5);
  });

  it('centred values are shifted by -128 on every channel', () => {
    const out = rgbToYcbcr(tf.tensor2d([0.5, 0.5, 0.5], [1, 3]), { centered: true }).arraySync() as number[][];
    expect(out[0]![0]).toBeCloseTo(127.5 - 128, 3);
    expect(out[0]![1]).toBeCloseTo(0, 3);
  });

  it('is registered with its block-DCT sibling as transform plugins', async () => {
    const registry = new PluginRegistry();
    register(registry);
    expect(registry.ids('transform')).toEqual(['transform:block-dct', 'transform:jpeg-ycbcr']);
    const dct = await registry.create('transform', ['block-dct', { blockSize: 8 }]);
    const x = tf.tensor4d(createRng(4).uniformArray(8 * 8 * 3), [1, 8, 8, 3]);
    expect(dct.forward(x).shape).toEqual([1, 1, 1, 64, 3]);
    await expect(registry.create('transform', ['block-dct', { blockSize: 1 }])).rejects.toThrow(/blockSize/);
  });
});
