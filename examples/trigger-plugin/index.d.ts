import type { TriggerPluginV1 } from '@lic-backdoor/spec';
import type { Tensor4D } from '@tensorflow/tfjs-core';
export declare function checkerboard(height: number, width: number, period: number): Tensor4D;
declare const checkerboardTrigger: TriggerPluginV1<{ period: number; amplitude: number }>;
export default checkerboardTrigger;
