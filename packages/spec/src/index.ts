export type * from './v1/index.js';
export * from './errors.js';
