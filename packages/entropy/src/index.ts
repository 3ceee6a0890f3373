export * from './cdf.js';
export * from './rans.js';
export * from './rans64.js';
export * from './tables.js';
export * from './container.js';
export * from './crc32.js';
export * from './errors.js';
