export * from './trainable.js';
export { DataParallelTrainer, TrainingWorkerError, type TrainingErrorCode, type DataParallelOptions, type StepResult, type TrainerState, type BatchPart } from './data-parallel.js';
export { FlatAdam, type AdamOptions, type AdamState } from './adam.js';
export { layoutOf, type SlotLayout } from './shard.js';
export * from './checkpoint.js';
export { Progress } from './progress.js';
export { runEnvironment, type RunEnvironment } from './run-info.js';
