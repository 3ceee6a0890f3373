import type { Scalar, Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { PluginFactoryV1 } from './plugin.js';

/** What `CodecV1.compress` returns. */
export interface EncodedImage {
  /**
   * The complete bitstream: everything a decoder needs besides the decoder-side weights.
   * Its length in bits is what `bpp_actual` counts.
   */
  bytes: Uint8Array;
  /** Height of the original image in pixels (before any padding). */
  height: number;
  /** Width of the original image in pixels (before any padding). */
  width: number;
  /**
   * Bits per pixel estimated from the entropy model's likelihoods of the quantized latents, when
   * the codec has an entropy model; absent for classical codecs.
   */
  bppEstimated?: number;
}

/** What `CodecV1.forward` returns (training-time pass). */
export interface CodecForwardResult {
  /** Reconstruction, same shape as the input, not clamped. */
  xHat: Tensor4D;
  /**
   * Likelihoods of each latent, by name (`y`, and `z` for hyperprior models), each shaped like
   * its latent. Rate in bits is `-sum(log2(likelihoods))`.
   */
  likelihoods: Record<string, Tensor>;
  /** Latents before quantization, by name (`y`, `z`). */
  latents: Record<string, Tensor>;
}

/**
 * An image codec. Learned codecs implement every member; classical ones (JPEG, WebP) only
 * `compress` and `decompress`, with `learned: false`.
 */
export interface CodecV1 {
  /** Always `'v1'`. */
  readonly specificationVersion: 'v1';
  /** `codec:<name>` of the factory that made it. */
  readonly id: string;
  /** True for trainable codecs that implement `forward`, `parameters` and `stateDict`. */
  readonly learned: boolean;
  /**
   * Encodes one image, a [1, H, W, 3] RGB tensor in [0, 1], into a real bitstream. Does not
   * dispose its input.
   */
  compress(image: Tensor4D): Promise<EncodedImage>;
  /**
   * Decodes a bitstream written by `compress` of a codec with the same decoder-side weights into
   * a [1, H, W, 3] tensor in [0, 1]. A damaged stream or other decoder weights throw; they never
   * produce a garbage image.
   */
  decompress(bytes: Uint8Array): Promise<Tensor4D>;
  /**
   * Training-time pass of a learned codec: additive uniform noise instead of rounding when
   * `training` is true, rounding (median-centred) otherwise. `seeds` (one per example) fixes the
   * noise of each example, so that results do not depend on how a batch is split; random noise
   * when absent.
   */
  forward?(x: Tensor4D, options: { training: boolean; seeds?: readonly number[] }): CodecForwardResult;
  /**
   * The analysis transform g_a alone: the latent y (before quantization) of a [B, H, W, 3] batch
   * whose sides are multiples of 64, without the synthesis pass that `forward` also runs.
   */
  analysis?(x: Tensor4D): Tensor4D;
  /**
   * Trainable variables by group: `encoder` (g_a, h_a), `decoder` (g_s, h_s), `entropy`
   * (entropy-model parameters), `quantiles` (auxiliary-loss parameters); hyperprior codecs also
   * `hyperEncoder` (h_a alone, also part of `encoder`), so that an attack can train g_a alone.
   */
  parameters?(): Record<'encoder' | 'decoder' | 'entropy' | 'quantiles', Variable[]> & { hyperEncoder?: Variable[] };
  /** Auxiliary loss of the factorized entropy models (quantile estimation). */
  auxLoss?(): Scalar;
  /**
   * Named tensors in CompressAI's state_dict names and PyTorch layouts, as saved to safetensors.
   */
  stateDict?(): Record<string, Tensor>;
  /**
   * A learned codec that onnxruntime can run: its transforms as ONNX graphs and its coding around
   * them (`OnnxCodingV1`). `tile`: latents per tile side for transforms run tile by tile on large
   * images (the codec's default when absent).
   */
  onnx?(options?: { tile?: number }): OnnxCodingV1;
  /** Releases every tensor the codec holds. */
  dispose(): void;
}

/** A tensor as onnxruntime takes and returns it: float32 or float64 data with its dimensions. */
export interface GraphTensorV1 {
  data: Float32Array | Float64Array;
  dims: number[];
}

/** Runs one of `OnnxCodingV1.graphs` by name in an inference session: inputs and outputs by name. */
export type GraphRunnerV1 = (graph: string, inputs: Record<string, GraphTensorV1>) => Promise<Record<string, GraphTensorV1>>;

/**
 * What a learned codec gives onnxruntime (`CodecV1.onnx`): the host creates one inference session
 * per graph, once, and calls `compress` and `decompress` with a runner over them. Streams written
 * either way decode with the codec's own `decompress`, and the reverse.
 */
export interface OnnxCodingV1 {
  /**
   * ONNX models by name. `exact`: run with graph optimizations off, as written (an integer synthesis
   * whose sums must stay exact; a fusion could fold a non-integer constant into a product).
   */
  readonly graphs: Readonly<Record<string, { readonly model: Uint8Array; readonly exact?: boolean }>>;
  /** `CodecV1.compress` with the transforms run through `run`: the same bitstream up to the float encoder's rounding. */
  compress(image: Tensor4D, run: GraphRunnerV1): Promise<EncodedImage>;
  /** `CodecV1.decompress` through `run`: the identical 8-bit image. */
  decompress(bytes: Uint8Array, run: GraphRunnerV1): Promise<Tensor4D>;
}

/**
 * How `train-codec` trains a learned codec from scratch (`CodecPluginV1.training`). `module` is the
 * URL of a module, imported in every worker thread of the data-parallel trainer, whose
 * `createTrainable(options)` returns a trainable (`@lic-backdoor/training`'s `Trainable`) with the
 * groups `main` (the rate-distortion loss, with metrics `bpp` and `mse`) and `aux` (the quantile loss
 * of the entropy models), plus `stateDict()` and `loadStateDict(state)` (CompressAI names, plain
 * arrays) and `updateTables()` (builds the entropy-coding tables before the weights are saved).
 * `options` is `{ model, N, M, lambda, seed }`: the codec's plugin name, its two widths, the
 * rate-distortion trade-off (loss = bpp + lambda x 255^2 x MSE) and the seed.
 */
export interface CodecTrainingV1 {
  readonly module: string;
}

/** Factory of a codec plugin; `training` when `train-codec` can train it. */
export type CodecPluginV1<Options = unknown> = PluginFactoryV1<'codec', Options, CodecV1> & { readonly training?: CodecTrainingV1 };
