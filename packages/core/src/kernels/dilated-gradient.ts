import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, Tensor4D } from '@tensorflow/tfjs-core';

let registered = false;

/**
 * tfjs's Conv2D gradient rejects dilation rates above 1 (ISNet's RSU blocks use 2, 4, 8). This
 * registers a Conv2D gradient, by gradient name, that handles dilated stride-1 convolutions with
 * forward kernels and hands every other case to the gradient it replaces:
 *   dx = the dilated convolution of dy with the flipped, transposed filter, padded by d(k-1) - pad;
 *   dW = the convolution of the padded input (batch and channels swapped) by dy, with stride d.
 */
export function registerDilatedConvGradient(): void {
  if (registered) return;
  const original = tf.getGradient('Conv2D');
  if (!original) throw new Error('no Conv2D gradient is registered (import @tensorflow/tfjs first)');
  const config: GradConfig = {
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const { strides, dilations, pad, dataFormat } = attrs as unknown as {
        strides: number | [number, number];
        dilations: number | [number, number];
        pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
        dataFormat: 'NHWC' | 'NCHW';
      };
      const [dh, dw] = typeof dilations === 'number' ? [dilations, dilations] : (dilations ?? [1, 1]);
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
      if ((dh === 1 && dw === 1) || sh !== 1 || sw !== 1 || (dataFormat ?? 'NHWC') !== 'NHWC') return original.gradFunc(dy, saved, attrs);
      const [x, filter] = saved as [Tensor4D, Tensor4D];
      const info = tf.backend_util.computeConv2DInfo(x.shape, filter.shape, 1, [dh, dw], pad, undefined, false, 'channelsLast');
      const { top, bottom, left, right } = info.padInfo;
      const [kh, kw] = [filter.shape[0], filter.shape[1]];
      return {
        x: () =>
          tf.conv2d(
            dy as Tensor4D,
            tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as Tensor4D,
            1,
            [[0, 0], [dh * (kh - 1) - top, dh * (kh - 1) - bottom], [dw * (kw - 1) - left, dw * (kw - 1) - right], [0, 0]],
            'NHWC',
            [dh, dw],
          ),
        filter: () => {
          const xPad = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
          const g = tf.conv2d(tf.transpose(xPad, [3, 1, 2, 0]) as Tensor4D, tf.transpose(dy as Tensor4D, [1, 2, 0, 3]) as Tensor4D, [dh, dw], 'valid');
          return tf.transpose(g, [1, 2, 0, 3]);
        },
      };
    },
  };
  tf.registerGradient(config);
  registered = true;
}
