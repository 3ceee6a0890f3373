import type { ObjectivePluginV1 } from '@lic-backdoor/spec';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
export declare function chroma(x: Tensor4D): Tensor1D;
declare const colourLoss: ObjectivePluginV1<{ maxChroma: number }>;
export default colourLoss;
