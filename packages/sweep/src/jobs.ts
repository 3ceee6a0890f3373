/**
 * The units of work of a sweep. A `run` job runs one grid run (`lic-backdoor run`, resumable);
 * when the sweep splits evaluation (`shards` > 1) the run job stops after the attack, and its
 * evaluation is `shards` `shard` jobs (`evaluate-attack --shard k/N`, each a share of the images)
 * followed by one `finish` job (the run again with `--resume`: it merges the shards, measures
 * anything missing and writes the results and the report).
 */
export type SweepJob =
  | { kind: 'run'; sweep: string; run: string; shards: number }
  | { kind: 'shard'; sweep: string; run: string; shard: number; shards: number }
  | { kind: 'finish'; sweep: string; run: string };

/** Where a job reports how far it is (shown by `sweep --status`). */
export interface JobProgress {
  /** e.g. `attack`, `evaluate`, `report` */
  stage: string;
  /** 0-1 within the stage, when known */
  fraction?: number;
}

/**
 * Executes one job (spawns the CLI for it, in the orchestrator) and resolves when it succeeded;
 * `root` is the sweep folder every worker reaches; `signal` aborts it (its process is stopped).
 */
export type JobHandler = (root: string, job: SweepJob, progress: (p: JobProgress) => void, signal?: AbortSignal) => Promise<void>;

/** A job's id: unique in the queue, stable across sweeps of the same config (a second sweep adds only what is missing). */
export function jobId(job: SweepJob): string {
  const base = `${job.sweep}--${job.run}`;
  if (job.kind === 'run') return base;
  return job.kind === 'shard' ? `${base}--shard-${job.shard}-of-${job.shards}` : `${base}--finish`;
}

/** What follows a job that succeeded: a split run's shards, then its finish. */
export function followUps(job: SweepJob): { children: SweepJob[]; then: SweepJob } | undefined {
  if (job.kind !== 'run' || job.shards <= 1) return undefined;
  const { sweep, run, shards } = job;
  return { children: Array.from({ length: shards }, (_, k) => ({ kind: 'shard' as const, sweep, run, shard: k + 1, shards })), then: { kind: 'finish', sweep, run } };
}

/**
 * Runs jobs in this process's event loop, `slots` at a time (each handler spawns its own process),
 * with the same job graph as the queue: a split run's shards after its attack, its finish after its
 * shards. Rejects with every failure once nothing more can run.
 */
export async function runLocally(root: string, jobs: SweepJob[], slots: number, handler: JobHandler, events: { started?(job: SweepJob): void; done?(job: SweepJob): void; progress?(job: SweepJob, p: JobProgress): void } = {}): Promise<void> {
  const ready = [...jobs];
  const waiting = new Map<string, { then: SweepJob; left: number }>();
  const failures: string[] = [];
  let active = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (active < slots && ready.length) {
        const job = ready.shift()!;
        active++;
        events.started?.(job);
        handler(root, job, (p) => events.progress?.(job, p))
          .then(() => {
            events.done?.(job);
            const next = followUps(job);
            if (next) {
              waiting.set(job.run, { then: next.then, left: next.children.length });
              ready.push(...next.children);
            }
            if (job.kind === 'shard') {
              const w = waiting.get(job.run)!;
              if (--w.left === 0) {
                waiting.delete(job.run);
                ready.push(w.then);
              }
            }
          })
          .catch((error: unknown) => failures.push(`${jobId(job)}: ${(error as Error).message}`))
          .finally(() => {
            active--;
            pump();
          });
      }
      if (active === 0 && ready.length === 0) resolve();
    };
    pump();
  });
  if (failures.length) throw new Error(`${failures.length} job(s) failed:\n${failures.join('\n')}`);
}
