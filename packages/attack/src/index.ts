export * from './config.js';
export * from './effects.js';
export * from './results.js';
export * from './plugins.js';
export { asLearned, backdoorFile, createAttack, createBackdooredCodec, createCodec, createTriggers, loadTriggerStates, shiftedTrigger, stateHash, ENCODER_FILE, type Attack, type AttackSpec, type LearnedCodec } from './trainable.js';
export { attackBatch, attackData, decoderProof, runAttack, validateAttack, type RunAttackOptions } from './run.js';
export { ATTACK_DEFINITIONS, MAX_MEGAPIXELS, evaluateAttack, onImage, parseShard, parseTasks, summaryTable, type Shard, type Task } from './evaluate.js';
export { loadAttack, loadBackdoor, readAttackFolder, triggeredImage } from './load.js';
export { cleanDrift, type CleanDrift } from './drift.js';
