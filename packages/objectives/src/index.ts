export * from './measures.js';
export * from './basic.js';
export * from './backbones.js';
export * from './task.js';
export * from './weighting.js';
export { register, cleanRdObjective, keepOriginalObjective, rateObjective, distortionObjective, stealthObjective, faceObjective, segmentationObjective } from './plugins.js';
