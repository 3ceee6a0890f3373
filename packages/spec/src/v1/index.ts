export type * from './plugin.js';
export type * from './transform.js';
export type * from './codec.js';
export type * from './trigger.js';
export type * from './objective.js';
export type * from './evaluator.js';
