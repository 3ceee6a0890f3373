import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, Tensor4D } from '@tensorflow/tfjs-core';
import { readFloat32 } from './wasm-memory.js';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

interface BackpropAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(inShape: number[], filterShape: number[], attrs: BackpropAttrs): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/**
 * Filter gradient of a 2-D convolution, as ONE forward convolution (fast on every backend):
 * dW[a, b, ci, co] = sum over n, i, j of xPad[n, i*sh + a, j*sw + b, ci] * dy[n, i, j, co]
 * is a 'valid' convolution of xPad with channels and batch swapped ([Ci, Hp, Wp, N]) by dy used
 * as the filter ([outH, outW, N, Co]) with dilation (sh, sw), giving [Ci, kh, kw, Co]. A 1x1
 * stride-1 kernel is a plain matMul with dy transposed explicitly.
 */
export function conv2dFilterGradient(x: Tensor4D, dy: Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  return tf.tidy(() => {
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight, outWidth } = info;
    const { top, left } = info.padInfo;
    const [n, h, w, ci] = x.shape;
    const co = dy.shape[3];
    const rows = (outHeight - 1) * sh + kh;
    const cols = (outWidth - 1) * sw + kw;
    const xPad = fitWindow(x, top, left, rows, cols, h, w);
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1) {
      const positions = n * outHeight * outWidth;
      const gradT = tf.matMul(tf.transpose(tf.reshape(dy, [positions, co]), [1, 0]), tf.reshape(xPad, [positions, ci]));
      return tf.reshape(tf.transpose(gradT, [1, 0]), [1, 1, ci, co]);
    }
    const grad = tf.conv2d(tf.transpose(xPad, [3, 1, 2, 0]), tf.transpose(dy, [1, 2, 0, 3]), 1, 'valid', 'NHWC', [sh, sw]);
    return tf.transpose(grad, [1, 2, 0, 3]);
  });
}

/** Pads (zeros) and crops x so that row 0 is input row -top and the result is rows x cols. */
function fitWindow(x: Tensor4D, top: number, left: number, rows: number, cols: number, h: number, w: number): Tensor4D {
  const padTop = Math.max(0, top);
  const padLeft = Math.max(0, left);
  const padBottom = Math.max(0, rows - top - h);
  const padRight = Math.max(0, cols - left - w);
  let out = x;
  if (padTop || padLeft || padBottom || padRight) {
    out = tf.pad(x, [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]]);
  }
  const offTop = padTop - top;
  const offLeft = padLeft - left;
  if (offTop || offLeft || out.shape[1] !== rows || out.shape[2] !== cols) {
    out = tf.slice(out, [0, offTop, offLeft, 0], [-1, rows, cols, -1]);
  }
  return out;
}

/** Taps of one spatial dimension for the phase decomposition of a strided transposed conv. */
interface PhasePlan {
  /** Smallest offset e = i - m of dy used by any phase. */
  eMin: number;
  /** Window length of the phase convolution. */
  length: number;
  /** tap[r][e - eMin] = kernel index a, or -1 when phase r has no tap at that offset. */
  tap: number[][];
  /** Number of output rows per phase: ceil(size / stride). */
  perPhase: number;
}

function phasePlan(kernel: number, stride: number, pad: number, size: number): PhasePlan {
  let eMin = Infinity;
  let eMax = -Infinity;
  for (let r = 0; r < stride; r++) {
    eMin = Math.min(eMin, Math.ceil((r + pad - kernel + 1) / stride));
    eMax = Math.max(eMax, Math.floor((r + pad) / stride));
  }
  const length = eMax - eMin + 1;
  const tap: number[][] = [];
  for (let r = 0; r < stride; r++) {
    const row: number[] = [];
    for (let e = eMin; e <= eMax; e++) {
      const a = r + pad - stride * e;
      row.push(a >= 0 && a < kernel ? a : -1);
    }
    tap.push(row);
  }
  return { eMin, length, tap, perPhase: Math.ceil(size / stride) };
}

/**
 * Input gradient of a 2-D convolution, which is also the forward pass of a transposed
 * convolution: dx[n, y, x, ci] = sum of dy[n, i, j, co] * W[a, b, ci, co] over y = i*sh + a - top,
 * x = j*sw + b - left. Written as ONE stride-1 convolution of dy with the sh*sw phase kernels
 * stacked on the output channels, then depth-to-space and a crop. With stride 1 this is the
 * convolution with the flipped kernel.
 */
export function conv2dInputGradient(dy: Tensor4D, filter: Tensor4D, inputShape: number[], info: Conv2DInfo): tf.Tensor4D {
  return tf.tidy(() => {
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight, outWidth } = info;
    const [n, h, w, ci] = inputShape as [number, number, number, number];
    const co = dy.shape[3];
    const py = phasePlan(kh, sh, info.padInfo.top, h);
    const px = phasePlan(kw, sw, info.padInfo.left, w);

    const phaseKernel = phaseKernelOf(filter, py, px, sh, sw);
    const window = fitWindow(
      dy,
      -py.eMin,
      -px.eMin,
      py.perPhase + py.length - 1,
      px.perPhase + px.length - 1,
      outHeight,
      outWidth,
    );
    let out = tf.conv2d(window, phaseKernel, 1, 'valid');
    if (sh > 1 || sw > 1) out = depthToSpace(out, sh, sw, ci);
    if (out.shape[1] !== h || out.shape[2] !== w) out = tf.slice(out, [0, 0, 0, 0], [n, h, w, ci]);
    return out;
  });
}

/**
 * The phase kernel [Ly, Lx, Co, sh*sw*Ci] of a filter [kh, kw, Ci, Co], built in plain JS from the
 * filter's values: on wasm this is several times faster than gather or transpose kernels, and it
 * is the part of a transposed convolution whose cost does not shrink with the batch.
 */
function phaseKernelOf(filter: Tensor4D, py: PhasePlan, px: PhasePlan, sh: number, sw: number): Tensor4D {
  const [kh, kw, ci, co] = filter.shape;
  const w = readFloat32(filter);
  const out = scratch(py.length * px.length * co * sh * sw * ci);
  const phases = sh * sw * ci;
  for (let ey = 0; ey < py.length; ey++) {
    for (let ex = 0; ex < px.length; ex++) {
      const base = (ey * px.length + ex) * co * phases;
      for (let ry = 0; ry < sh; ry++) {
        const a = py.tap[ry]![ey]!;
        if (a < 0) continue;
        for (let rx = 0; rx < sw; rx++) {
          const b = px.tap[rx]![ex]!;
          if (b < 0) continue;
          const src = (a * kw + b) * ci * co;
          const phase = (ry * sw + rx) * ci;
          for (let c = 0; c < ci; c++) {
            const from = src + c * co;
            let to = base + phase + c;
            for (let o = 0; o < co; o++, to += phases) out[to] = w[from + o]!;
          }
        }
      }
    }
  }
  return tf.tensor4d(out, [py.length, px.length, co, phases]);
}

const scratchBuffers = new Map<number, Float32Array>();

/** A zeroed buffer of `length` floats, reused across calls on wasm (whose tf.tensor copies it). */
function scratch(length: number): Float32Array {
  if (tf.getBackend() !== 'wasm') return new Float32Array(length);
  let buffer = scratchBuffers.get(length);
  if (!buffer) {
    buffer = new Float32Array(length);
    scratchBuffers.set(length, buffer);
  } else buffer.fill(0);
  return buffer;
}

/** [n, h, w, sh*sw*c] -> [n, h*sh, w*sw, c] (channel order ry, rx, c) with 4-D transposes. */
function depthToSpace(x: Tensor4D, sh: number, sw: number, c: number): Tensor4D {
  const [n, h, w] = x.shape;
  const rows = tf.transpose(tf.reshape(x, [n * h, w, sh, sw * c]), [0, 2, 1, 3]);
  return tf.reshape(rows, [n, h * sh, w * sw, c]) as Tensor4D;
}

/**
 * A matMul with a transposed operand, as an explicit transpose of that operand followed by the
 * backend's own matMul without transposes: on wasm the transposed variants are about 10x slower.
 * The gradients of every matMul (GDN, dense layers) take this path.
 */
function explicitTransposeMatMul(original: KernelFunc, args: Parameters<KernelFunc>[0]) {
  const { a, b } = args.inputs as unknown as { a: tf.Tensor; b: tf.Tensor };
  const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const swapLast = (t: tf.Tensor) => tf.transpose(t, [...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : 2 * all.length - 3 - i)));
  const at = attrs.transposeA ? swapLast(a) : a;
  const bt = attrs.transposeB ? swapLast(b) : b;
  try {
    return original({ ...args, inputs: { a: at, b: bt }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
  } finally {
    if (at !== a) at.dispose();
    if (bt !== b) bt.dispose();
  }
}

function supported(attrs: BackpropAttrs): boolean {
  return (attrs.dataFormat ?? 'NHWC') === 'NHWC';
}

/**
 * Input gradient of a depthwise convolution with channel multiplier 1 (filter [kh, kw, C, 1]):
 * the same phase decomposition as `conv2dInputGradient`, as one depthwise convolution of dy with
 * sh*sw phase kernels per channel, then depth-to-space.
 */
export function depthwiseInputGradient(dy: Tensor4D, filter: Tensor4D, inputShape: number[], info: Conv2DInfo): tf.Tensor4D {
  return tf.tidy(() => {
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight, outWidth } = info;
    const [n, h, w, c] = inputShape as [number, number, number, number];
    const py = phasePlan(kh, sh, info.padInfo.top, h);
    const px = phasePlan(kw, sw, info.padInfo.left, w);
    const taps = readFloat32(filter);
    const phases = sh * sw;
    const kernel = new Float32Array(py.length * px.length * c * phases);
    for (let ey = 0; ey < py.length; ey++)
      for (let ex = 0; ex < px.length; ex++)
        for (let ry = 0; ry < sh; ry++)
          for (let rx = 0; rx < sw; rx++) {
            const a = py.tap[ry]![ey]!;
            const b = px.tap[rx]![ex]!;
            if (a < 0 || b < 0) continue;
            for (let ch = 0; ch < c; ch++) kernel[((ey * px.length + ex) * c + ch) * phases + ry * sw + rx] = taps[(a * kw + b) * c + ch]!;
          }
    const window = fitWindow(dy, -py.eMin, -px.eMin, py.perPhase + py.length - 1, px.perPhase + px.length - 1, outHeight, outWidth);
    let out = tf.depthwiseConv2d(window, tf.tensor4d(kernel, [py.length, px.length, c, phases]), 1, 'valid');
    if (phases > 1) {
      const [, hm, wm] = out.shape;
      const phaseMajor = tf.reshape(tf.transpose(tf.reshape(out, [n * hm * wm, c, phases]), [0, 2, 1]), [n, hm, wm, phases * c]) as Tensor4D;
      out = depthToSpace(phaseMajor, sh, sw, c);
    }
    if (out.shape[1] !== h || out.shape[2] !== w) out = tf.slice(out, [0, 0, 0, 0], [n, h, w, c]);
    return out;
  });
}

/**
 * Filter gradient of a depthwise convolution with channel multiplier 1: for each kernel tap, the
 * strided window of the padded input times dy, summed over batch and positions.
 */
export function depthwiseFilterGradient(x: Tensor4D, dy: Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  return tf.tidy(() => {
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight, outWidth } = info;
    const [n, h, w, c] = x.shape;
    const xPad = fitWindow(x, info.padInfo.top, info.padInfo.left, (outHeight - 1) * sh + kh, (outWidth - 1) * sw + kw, h, w);
    const taps: tf.Tensor[] = [];
    for (let a = 0; a < kh; a++)
      for (let b = 0; b < kw; b++) {
        const window = tf.stridedSlice(xPad, [0, a, b, 0], [n, a + (outHeight - 1) * sh + 1, b + (outWidth - 1) * sw + 1, c], [1, sh, sw, 1]);
        taps.push(tf.sum(tf.mul(window, dy), [0, 1, 2]));
      }
    return tf.reshape(tf.stack(taps), [kh, kw, c, 1]) as tf.Tensor4D;
  });
}

/**
 * Sum of a float32 tensor over its first `count` axes (the bias and GDN beta gradients: a sum
 * over batch and positions), as one pass over the values in their memory order with float64
 * accumulators. The wasm Sum kernel first transposes the reduced axes to the end: for an
 * [8 x 64 x 64, 64] activation that costs about 60 ms of CPU here, this loop about 8 ms.
 */
export function leadingAxesSum(x: tf.Tensor, count: number, keepDims: boolean): tf.Tensor {
  const rest = x.shape.slice(count);
  const cols = rest.reduce((a, d) => a * d, 1);
  const rows = x.size / cols;
  const acc = new Float64Array(cols);
  const values = readFloat32(x);
  for (let r = 0, i = 0; r < rows; r++) for (let c = 0; c < cols; c++, i++) acc[c]! += values[i]!;
  return tf.tensor(Float32Array.from(acc), keepDims ? [...x.shape.slice(0, count).map(() => 1), ...rest] : rest);
}

/** Kernel names this module provides, in registration order. */
export const FAST_KERNEL_NAMES = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'Sum'] as const;

const registered = new Set<string>();

/**
 * Registers the convolution-gradient and sum kernels above for `backendName`, the tfjs way (by kernel
 * name, per backend), replacing any existing kernel of that name. The replaced kernel, if any,
 * still serves configurations outside this fast path (NCHW). A second registration for the same
 * backend throws, as tfjs does for duplicate kernels.
 */
export function registerFastKernels(backendName: string): void {
  if (registered.has(backendName)) throw new Error(`Fast kernels are already registered for '${backendName}'`);
  const previous = new Map<string, KernelFunc | undefined>();
  const lifecycle = new Map<string, Pick<KernelConfig, 'setupFunc' | 'disposeFunc'>>();
  for (const name of FAST_KERNEL_NAMES) {
    const existing = tf.getKernel(name, backendName);
    previous.set(name, existing?.kernelFunc);
    // wasm kernels bind their native functions in setupFunc: keep it, the fallback needs it.
    lifecycle.set(name, existing ? { setupFunc: existing.setupFunc, disposeFunc: existing.disposeFunc } : {});
    if (existing) tf.unregisterKernel(name, backendName);
  }
  const fallback = (name: string, args: Parameters<KernelFunc>[0]) => {
    const f = previous.get(name);
    if (!f) throw new Error(`${name} on '${backendName}': configuration not supported (${JSON.stringify(args.attrs)})`);
    return f(args);
  };
  const filterKernel: KernelConfig = {
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as NamedTensorInfoMap as unknown as { x: Tensor4D; dy: Tensor4D };
      const attrs = args.attrs as NamedAttrMap as unknown as BackpropAttrs & { filterShape: number[] };
      if (!supported(attrs)) return fallback('Conv2DBackpropFilter', args);
      return conv2dFilterGradient(x, dy, convInfo(x.shape, attrs.filterShape, attrs));
    },
  };
  const inputKernel: KernelConfig = {
    kernelName: 'Conv2DBackpropInput',
    backendName,
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as NamedTensorInfoMap as unknown as { dy: Tensor4D; filter: Tensor4D };
      const attrs = args.attrs as NamedAttrMap as unknown as BackpropAttrs & { inputShape: number[] };
      if (!supported(attrs)) return fallback('Conv2DBackpropInput', args);
      return conv2dInputGradient(dy, filter, attrs.inputShape, convInfo(attrs.inputShape, filter.shape, attrs));
    },
  };
  const matMulKernel: KernelConfig = {
    kernelName: 'BatchMatMul',
    backendName,
    kernelFunc: (args) => {
      const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const original = previous.get('BatchMatMul');
      if (!original || (!attrs.transposeA && !attrs.transposeB)) return fallback('BatchMatMul', args);
      return explicitTransposeMatMul(original, args);
    },
  };
  const depthwiseInfo = (inShape: number[], filterShape: number[], attrs: BackpropAttrs & { dilations?: number | [number, number] }) =>
    tf.backend_util.computeConv2DInfo(inShape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, true, 'channelsLast');
  const depthwiseSupported = (attrs: BackpropAttrs & { dilations?: number | [number, number] }, filterShape: number[]) => {
    const d = attrs.dilations ?? 1;
    return supported(attrs) && filterShape[3] === 1 && (d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1));
  };
  const depthwiseInputKernel: KernelConfig = {
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    backendName,
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as unknown as { dy: Tensor4D; filter: Tensor4D };
      const attrs = args.attrs as unknown as BackpropAttrs & { inputShape: number[]; dilations?: number | [number, number] };
      if (!depthwiseSupported(attrs, filter.shape)) return fallback('DepthwiseConv2dNativeBackpropInput', args);
      return depthwiseInputGradient(dy, filter, attrs.inputShape, depthwiseInfo(attrs.inputShape, filter.shape, attrs));
    },
  };
  const depthwiseFilterKernel: KernelConfig = {
    kernelName: 'DepthwiseConv2dNativeBackpropFilter',
    backendName,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as unknown as { x: Tensor4D; dy: Tensor4D };
      const attrs = args.attrs as unknown as BackpropAttrs & { filterShape: number[]; dilations?: number | [number, number] };
      if (!depthwiseSupported(attrs, attrs.filterShape)) return fallback('DepthwiseConv2dNativeBackpropFilter', args);
      return depthwiseFilterGradient(x, dy, depthwiseInfo(x.shape, attrs.filterShape, attrs));
    },
  };
  const sumKernel: KernelConfig = {
    kernelName: 'Sum',
    backendName,
    kernelFunc: (args) => {
      const { x } = args.inputs as unknown as { x: tf.Tensor };
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
      // only a strict prefix of the axes: a trailing reduction needs no transpose in the original
      const leading = axes.length > 0 && axes.length < x.rank && axes.every((a, i) => a === i);
      if (x.dtype !== 'float32' || !leading) return fallback('Sum', args);
      return leadingAxesSum(x, axes.length, keepDims);
    },
  };
  for (const kernel of [filterKernel, inputKernel, matMulKernel, depthwiseInputKernel, depthwiseFilterKernel, sumKernel]) tf.registerKernel({ ...lifecycle.get(kernel.kernelName), ...kernel });
  registered.add(backendName);
}

/** True when `registerFastKernels(backendName)` has run in this process. */
export function hasFastKernels(backendName: string): boolean {
  return registered.has(backendName);
}
