export { sweepConfig, expandGrid, setPath, type SweepConfig, type GridRun } from './grid.js';
export { jobId, followUps, runLocally, type SweepJob, type JobHandler, type JobProgress } from './jobs.js';
export { SweepQueue, startWorker, QUEUE_NAME, type QueuedJob, type QueuedState, type WorkerOptions } from './queue.js';
export { aggregateRuns, cellLabel, type SweepRunRecord, type SweepCell } from './aggregate.js';
