export * from './catalogue.js';
export * from './fetch.js';
export * from './session.js';
