import { FlowProducer, Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { followUps, jobId, type JobHandler, type JobProgress, type SweepJob } from './jobs.js';

/** The BullMQ queue every sweep and worker shares (jobs carry their sweep's name and folder). */
export const QUEUE_NAME = 'lic-backdoor';

/** What a queued job carries: the sweep folder (on storage every worker reaches) and the job. */
export interface QueuedJob {
  root: string;
  job: SweepJob;
}

/**
 * Job options: three attempts for a job that fails (an error in the run: a retry resumes it from
 * its checkpoint); a job whose worker dies is not a failure: its lock lapses and the stalled-job
 * check gives it to another worker (up to `MAX_STALLS` times). Finished and failed jobs stay in
 * Redis, so that `sweep --status` shows them and a second sweep adds only what is missing.
 */
const JOB_OPTIONS: JobsOptions = { attempts: 3, backoff: { type: 'fixed', delay: 2000 }, removeOnComplete: false, removeOnFail: false };
const MAX_STALLS = 5;

/** ioredis options from a redis:// URL; `maxRetriesPerRequest: null` keeps commands waiting while Redis restarts. */
function connection(url: string) {
  if (!/^rediss?:\/\//.test(url)) throw new Error(`--queue ${url}: expected redis://HOST:PORT (or rediss://)`);
  return { url, maxRetriesPerRequest: null, enableOfflineQueue: true };
}

/** A job's state in the queue, or `missing` when it was never added. */
export interface QueuedState {
  state: 'completed' | 'failed' | 'active' | 'waiting' | 'waiting-children' | 'delayed' | 'prioritized' | 'missing' | 'unknown';
  progress?: JobProgress;
  attempts?: number;
  failedReason?: string;
}

/** The sweep's side of the queue: adds jobs, reads their states. */
export class SweepQueue {
  private readonly queue: Queue;

  constructor(url: string) {
    this.queue = new Queue(QUEUE_NAME, { connection: connection(url) });
  }

  /**
   * Adds each job unless it is done (`done`), already queued or running (a split run: until its
   * finish is done); a job that failed for good is retried, and a split run whose finish failed is
   * run again (each retry resumes from the run's folder). Returns how many were added, retried and
   * left as they were.
   */
  async submit(root: string, jobs: { job: SweepJob; done: boolean }[]): Promise<{ added: number; retried: number; queued: number; done: number }> {
    const counts = { added: 0, retried: 0, queued: 0, done: 0 };
    for (const { job, done } of jobs) {
      if (done) {
        counts.done++;
        continue;
      }
      const existing = await this.queue.getJob(jobId(job));
      const state = existing ? await existing.getState() : 'missing';
      // a split run's job completes after its attack; its finish (with the shards) is what ends it
      const finish = followUps(job)?.then;
      const last = finish && state === 'completed' ? await this.queue.getJob(jobId(finish)) : undefined;
      const lastState = last ? await last.getState() : 'missing';
      if (existing && state === 'failed') {
        await existing.retry('failed');
        counts.retried++;
      } else if (last && lastState !== 'completed' && lastState !== 'failed') {
        counts.queued++;
      } else if (existing && state === 'completed') {
        // finished once, but its results are missing (the folder was removed, or a shard failed for
        // good): run it again; it resumes from what its folder still holds
        await last?.remove();
        await existing.remove();
        await this.queue.add(job.kind, { root, job } satisfies QueuedJob, { ...JOB_OPTIONS, jobId: jobId(job) });
        counts.added++;
      } else if (existing) {
        counts.queued++;
      } else {
        await this.queue.add(job.kind, { root, job } satisfies QueuedJob, { ...JOB_OPTIONS, jobId: jobId(job) });
        counts.added++;
      }
    }
    return counts;
  }

  /** The queue state of a job. */
  async state(job: SweepJob): Promise<QueuedState> {
    const j = await this.queue.getJob(jobId(job));
    if (!j) return { state: 'missing' };
    const state = (await j.getState()) as QueuedState['state'];
    return { state, progress: typeof j.progress === 'object' ? (j.progress as unknown as JobProgress) : undefined, attempts: j.attemptsMade, failedReason: j.failedReason || undefined };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** Worker options: how many jobs at once, and how fast a dead worker's job goes back to the queue. */
export interface WorkerOptions {
  concurrency: number;
  /** ms a job's lock lasts unless its worker renews it (every half of it): after a worker dies, its jobs are retried once this lapses */
  lockDuration?: number;
  /** ms between checks for such jobs */
  stalledInterval?: number;
  log?: (line: string) => void;
}

/**
 * Takes jobs from the queue and runs them with `handler`; a run that splits its evaluation adds its
 * shards and its finish (a BullMQ flow: the finish runs once every shard is done). When a job's lock
 * cannot be renewed (Redis unreachable for longer than the lock) its process is stopped, since the
 * queue may give the job to another worker. Returns a function that stops the worker, ending
 * running jobs (they are retried from their checkpoints).
 */
export function startWorker(url: string, handler: JobHandler, o: WorkerOptions): { close(): Promise<void>; worker: Worker } {
  const log = o.log ?? (() => {});
  const queue = new Queue(QUEUE_NAME, { connection: connection(url) });
  const flows = new FlowProducer({ connection: connection(url) });
  const running = new Map<string, AbortController>();
  const worker = new Worker<QueuedJob>(
    QUEUE_NAME,
    async (job: Job<QueuedJob>) => {
      const { root, job: sweepJob } = job.data;
      const abort = new AbortController();
      running.set(job.id!, abort);
      log(`job ${job.id} (attempt ${job.attemptsMade + 1}) started`);
      try {
        await handler(root, sweepJob, (p) => void job.updateProgress(p as unknown as object).catch(() => {}), abort.signal);
      } finally {
        running.delete(job.id!);
      }
      const next = followUps(sweepJob);
      if (next && !(await queue.getJob(jobId(next.then)))) {
        await flows.add({
          name: next.then.kind,
          queueName: QUEUE_NAME,
          data: { root, job: next.then } satisfies QueuedJob,
          opts: { ...JOB_OPTIONS, jobId: jobId(next.then) },
          children: next.children.map((c) => ({ name: c.kind, queueName: QUEUE_NAME, data: { root, job: c } satisfies QueuedJob, opts: { ...JOB_OPTIONS, jobId: jobId(c), failParentOnFailure: true } })),
        });
      }
      log(`job ${job.id} done`);
    },
    { connection: connection(url), concurrency: o.concurrency, lockDuration: o.lockDuration ?? 30_000, stalledInterval: o.stalledInterval ?? 30_000, maxStalledCount: MAX_STALLS },
  );
  worker.on('failed', (job, error) => log(`job ${job?.id} failed (attempt ${job?.attemptsMade}): ${error.message}`));
  worker.on('lockRenewalFailed', (ids) => {
    for (const id of ids) running.get(id)?.abort(new Error('the job lock could not be renewed'));
  });
  worker.on('error', (error) => log(`worker: ${error.message}`));
  return {
    worker,
    close: async () => {
      for (const abort of running.values()) abort.abort(new Error('the worker is stopping'));
      await worker.close(true);
      await Promise.all([queue.close(), flows.close()]);
    },
  };
}
