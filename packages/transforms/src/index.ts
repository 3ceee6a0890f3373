export * from './ycbcr.js';
export * from './dct.js';
export * from './zigzag.js';
export { register, jpegYcbcrTransform, blockDctTransform } from './plugins.js';
