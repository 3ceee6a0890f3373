export * from './catalogue.js';
export * from './fetch.js';
export * from './session.js';
export * from './tfjs-import.js';
export * from './check.js';
export * from './ort-codec.js';
export * from './runtime.js';
