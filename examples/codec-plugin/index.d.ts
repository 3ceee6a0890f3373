import type { CodecPluginV1 } from '@lic-backdoor/spec';
export declare function writeStream(levels: number, height: number, width: number, values: Uint8Array): Uint8Array;
export declare function readStream(bytes: Uint8Array): { levels: number; height: number; width: number; values: Uint8Array };
declare const posterize: CodecPluginV1<{ levels: number }>;
export default posterize;
