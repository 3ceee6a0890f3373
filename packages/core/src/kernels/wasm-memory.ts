import * as tf from '@tensorflow/tfjs-core';

interface WasmBackendLike {
  getMemoryOffset(dataId: object): number;
  wasm: { HEAPU8: Uint8Array };
}

/**
 * A float32 tensor's values without a copy: a view into the wasm backend's heap when the tensor
 * lives there, else a copy (`dataSync`). The view is only valid until the next tfjs operation
 * (the heap can grow and move): read it at once. Avoiding the copy matters on 2-core machines,
 * where large short-lived ArrayBuffers slow the other training thread down.
 */
export function readFloat32(t: tf.Tensor): Float32Array {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as WasmBackendLike;
    try {
      const offset = backend.getMemoryOffset(t.dataId);
      return new Float32Array(backend.wasm.HEAPU8.buffer, offset, t.size);
    } catch {
      // not (yet) on the wasm heap: fall back to a copy
    }
  }
  return t.dataSync() as Float32Array;
}
