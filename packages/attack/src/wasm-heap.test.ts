import * as tf from '@tensorflow/tfjs-core';
import { onImage, parseTasks } from './evaluate';

describe('evaluate-attack, one image at a time', () => {
  // only its shape is read
  const x = { shape: [1, 4000, 6000, 3] } as unknown as tf.Tensor4D;

  it('turns a wasm heap that gives out into an error naming the image, its size and --max-megapixels', async () => {
    // what emscripten's abort throws (a WebAssembly.RuntimeError)
    const aborted = new Error('Aborted()');
    aborted.name = 'RuntimeError';
    await expect(onImage('big.png', x, () => Promise.reject(aborted))).rejects.toThrow(/^big\.png \(6000 x 4000, 24\.0 megapixels\): the tfjs wasm heap gave out \(Aborted\(\)\); evaluate smaller images or lower --max-megapixels$/);
  });

  it('passes other errors and results through', async () => {
    await expect(onImage('a.png', x, () => Promise.reject(new RangeError('bad')))).rejects.toThrow(RangeError);
    await expect(onImage('a.png', x, () => Promise.resolve(3))).resolves.toBe(3);
  });

  it('parses --tasks', () => {
    expect(parseTasks('segmentation,face')).toEqual(['segmentation', 'face']);
    expect(parseTasks('none')).toEqual([]);
    expect(parseTasks(' segmentation , depth')).toEqual(['segmentation', 'depth']);
  });
});
