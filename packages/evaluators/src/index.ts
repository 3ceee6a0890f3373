export * from './metrics.js';
export * from './segmentation.js';
export * from './face.js';
export { register, segmentationEvaluator, faceRecognitionEvaluator } from './plugins.js';
