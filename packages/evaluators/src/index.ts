export * from './metrics.js';
export * from './segmentation.js';
export { register, segmentationEvaluator } from './plugins.js';
