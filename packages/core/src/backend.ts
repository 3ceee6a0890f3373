import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node entry registers no gradients, and its ESM files do not resolve under Node; the
// @tensorflow/tfjs bundle registers every gradient (and the cpu backend) on the same tfjs-core.
import '@tensorflow/tfjs';
import { BackendError } from './errors.js';
import { FAST_KERNEL_NAMES, hasFastKernels, registerFastKernels } from './kernels/fast-kernels.js';
import { registerDilatedConvGradient } from './kernels/dilated-gradient.js';

/** Backends in the order they are tried. `tensorflow` is tfjs-node-gpu or tfjs-node. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What `initializeBackend` chose and why; every run records it. */
export interface BackendReport {
  /** The tfjs backend in use. */
  backend: BackendName;
  /** Which npm package provides it. */
  package: string;
  /** tfjs-core version. */
  tfjsVersion: string;
  /** Backends tried before this one, with the reason each was not used. */
  skipped: { backend: BackendName; reason: string }[];
  /** Kernels replaced or added by this toolkit on that backend. */
  fastKernels: string[];
}

const FAST_KERNELS: string[] = [...FAST_KERNEL_NAMES];

async function tryTensorflow(): Promise<string> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (tf.findBackend('tensorflow')) return pkg;
    } catch {
      // not installed, or its native library is missing: try the next one
    }
  }
  throw new Error('neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node loads (optional; its install needs libtensorflow)');
}

let current: BackendReport | undefined;

/**
 * Selects the fastest tfjs backend that actually loads: `tensorflow` (tfjs-node[-gpu]), else
 * `wasm` (with this toolkit's convolution-gradient kernels registered), else `cpu`. `prefer`
 * forces one backend and fails if it cannot load. The environment variable
 * `LIC_BACKDOOR_BACKEND` has the same effect as `prefer`.
 */
export async function initializeBackend(options: { prefer?: BackendName } = {}): Promise<BackendReport> {
  const prefer = options.prefer ?? (process.env.LIC_BACKDOOR_BACKEND as BackendName | undefined);
  if (prefer && !['tensorflow', 'wasm', 'cpu'].includes(prefer)) {
    throw new BackendError(`Unknown backend '${prefer}'. Available: tensorflow, wasm, cpu`);
  }
  if (current && (!prefer || current.backend === prefer)) return current;
  // PROD silences tfjs's advice to install tfjs-node (we report the backend ourselves).
  tf.env().set('PROD', true);
  registerDilatedConvGradient();
  const order: BackendName[] = prefer ? [prefer] : ['tensorflow', 'wasm', 'cpu'];
  const skipped: BackendReport['skipped'] = [];
  for (const backend of order) {
    try {
      const pkg = await load(backend);
      if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
      await tf.ready();
      current = {
        backend,
        package: pkg,
        tfjsVersion: tf.version_core,
        skipped,
        fastKernels: hasFastKernels(backend) ? FAST_KERNELS : [],
      };
      return current;
    } catch (error) {
      skipped.push({ backend, reason: (error as Error).message });
    }
  }
  throw new BackendError(`No tfjs backend could be loaded: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`);
}

async function load(backend: BackendName): Promise<string> {
  if (backend === 'tensorflow') return tryTensorflow();
  if (backend === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!hasFastKernels('wasm')) registerFastKernels('wasm');
    return '@tensorflow/tfjs-backend-wasm';
  }
  await import('@tensorflow/tfjs-backend-cpu');
  return '@tensorflow/tfjs-backend-cpu';
}

/** The report of the last `initializeBackend`, or undefined before the first. */
export function backendReport(): BackendReport | undefined {
  return current;
}
