import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { hwioToOihw, oihwToHwio, permute4d } from './layout.js';

describe('PyTorch layouts', () => {
  it('OIHW -> HWIO puts W[o, i, y, x] at [y, x, i, o] and inverts exactly', async () => {
    await tf.setBackend('cpu');
    const oihw = tf.reshape(tf.range(0, 2 * 3 * 4 * 5), [2, 3, 4, 5]) as tf.Tensor4D;
    const hwio = oihwToHwio(oihw);
    expect(hwio.shape).toEqual([4, 5, 3, 2]);
    const a = oihw.arraySync() as number[][][][];
    const b = hwio.arraySync() as number[][][][];
    expect(b[3]![1]![2]![1]).toBe(a[1]![2]![3]![1]);
    expect(hwioToOihw(hwio).arraySync()).toEqual(a);
  });

  it('permute4d on raw arrays agrees with tf.transpose', () => {
    const data = Float32Array.from({ length: 120 }, (_, i) => i);
    const { data: out, shape } = permute4d(data, [2, 3, 4, 5], [2, 3, 1, 0]);
    expect(shape).toEqual([4, 5, 3, 2]);
    expect([...out]).toEqual([...tf.transpose(tf.tensor4d(data, [2, 3, 4, 5]), [2, 3, 1, 0]).dataSync()]);
  });
});
