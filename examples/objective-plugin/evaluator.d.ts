import type { EvaluatorPluginV1 } from '@lic-backdoor/spec';
declare const chromaRetention: EvaluatorPluginV1<Record<string, never>>;
export default chromaRetention;
