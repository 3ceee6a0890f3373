export * from './frequency.js';
export { AdaptiveFrequencyTrigger, type AdaptiveFrequencyOptions } from './adaptive-frequency.js';
export * from './fixed.js';
export { register, adaptiveFrequencyTrigger, fixedFrequencyTrigger, patchTrigger, blendTrigger } from './plugins.js';
export { loadTriggerStates } from './state.js';
