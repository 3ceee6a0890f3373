import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandGrid, setPath, sweepConfig } from './grid.js';
import { jobId, runLocally, type JobHandler, type SweepJob } from './jobs.js';
import { SweepQueue, startWorker } from './queue.js';

const base = { name: 'x', seed: 0, attack: { schedule: { steps: 10 }, triggers: [{ name: 'rate', trigger: ['adaptive-frequency', { width: 4 }] }] } };

test('a grid expands into every combination for every seed, with stable ids and the values set', () => {
  const sweep = sweepConfig.parse({ name: 'g', run: 'run.yaml', grid: { 'attack.schedule.steps': [1, 2, 3], 'attack.triggers.0.trigger.1.width': [4, 8] }, seeds: [1, 2] });
  const runs = expandGrid(sweep, base);
  expect(runs).toHaveLength(12);
  expect(new Set(runs.map((r) => r.id)).size).toBe(12);
  expect(expandGrid(sweep, base).map((r) => r.id)).toEqual(runs.map((r) => r.id));
  const r = runs.find((x) => x.params['attack.schedule.steps'] === 2 && x.params['attack.triggers.0.trigger.1.width'] === 8 && x.seed === 2)!;
  expect(r.config).toMatchObject({ seed: 2, attack: { schedule: { steps: 2 }, triggers: [{ trigger: ['adaptive-frequency', { width: 8 }] }] } });
  expect(r.config.name).toMatch(/^g-[0-9a-f]{8}$/);
  expect(r.id).toMatch(/^steps-2_width-8_seed-2-[0-9a-f]{8}$/);
  // the base is not changed
  expect(base.attack.schedule.steps).toBe(10);
});

test('a grid key that does not fit the config is an error naming it', () => {
  expect(() => setPath(base, 'attack.triggers.3.name', 'a')).toThrow(/grid key attack\.triggers\.3\.name: attack\.triggers has no item 3/);
  expect(() => setPath(base, 'attack.schedule.steps.x', 1)).toThrow(/attack\.schedule\.steps is not an object or a list/);
  expect(sweepConfig.safeParse({ name: 'g', run: 'r.yaml', grid: { 'a..b': [1] } }).success).toBe(false);
});

/** A handler that records the order of jobs and fails a job as often as `failures` says. */
function recorder(failures: Record<string, number> = {}) {
  const order: string[] = [];
  const handler: JobHandler = async (_root, job) => {
    await new Promise((r) => setTimeout(r, 20));
    const id = jobId(job);
    if ((failures[id] ?? 0) > 0) {
      failures[id]!--;
      throw new Error(`${id} failed on purpose`);
    }
    order.push(id);
  };
  return { order, handler };
}

test('locally, a split run evaluates its shards after its attack and finishes after them; failures are reported', async () => {
  const { order, handler } = recorder();
  const jobs: SweepJob[] = [
    { kind: 'run', sweep: 's', run: 'a', shards: 3 },
    { kind: 'run', sweep: 's', run: 'b', shards: 1 },
  ];
  await runLocally('/nowhere', jobs, 2, handler);
  expect(order).toHaveLength(6);
  const at = (id: string) => order.indexOf(id);
  for (const k of [1, 2, 3]) expect(at(`s--a--shard-${k}-of-3`)).toBeGreaterThan(at('s--a'));
  expect(at('s--a--finish')).toBeGreaterThan(Math.max(...[1, 2, 3].map((k) => at(`s--a--shard-${k}-of-3`))));
  const failing = recorder({ 's--b': 1 });
  await expect(runLocally('/nowhere', jobs, 2, failing.handler)).rejects.toThrow(/1 job\(s\) failed:\ns--b: s--b failed on purpose/);
  expect(failing.order).toContain('s--a--finish');
});

function redisServer(): string | undefined {
  return [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => p && existsSync(p));
}

describe('the BullMQ queue (a real Redis)', () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const url = `redis://127.0.0.1:${port}`;

  beforeAll(() => {
    const server = redisServer();
    if (!server) throw new Error('no redis-server: install Debian redis-server (.ci/run does) or set REDIS_SERVER');
    const dir = mkdtempSync(join(tmpdir(), 'redis-'));
    const r = spawnSync(server, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'yes'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  });
  afterAll(() => spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']));

  it('runs a split run as run, shards, finish; a second submit leaves finished runs alone; a job that fails for good is retried by the next submit', async () => {
    const { order, handler } = recorder({ 'q--b': 3 });
    const worker = startWorker(url, handler, { concurrency: 2 });
    const queue = new SweepQueue(url);
    try {
      const jobs = [
        { job: { kind: 'run', sweep: 'q', run: 'a', shards: 2 } as SweepJob, done: false },
        { job: { kind: 'run', sweep: 'q', run: 'b', shards: 1 } as SweepJob, done: false },
        { job: { kind: 'run', sweep: 'q', run: 'c', shards: 1 } as SweepJob, done: true },
      ];
      expect(await queue.submit('/nowhere', jobs)).toEqual({ added: 2, retried: 0, queued: 0, done: 1 });
      const state = (job: SweepJob) => queue.state(job).then((s) => s.state);
      const finish: SweepJob = { kind: 'finish', sweep: 'q', run: 'a' };
      for (let t = 0; t < 300 && ((await state(finish)) !== 'completed' || (await state(jobs[1]!.job)) !== 'failed'); t++) await new Promise((r) => setTimeout(r, 100));
      expect(await state(finish)).toBe('completed');
      expect(order.filter((id) => id.startsWith('q--a'))).toEqual(['q--a', expect.stringMatching(/shard/), expect.stringMatching(/shard/), 'q--a--finish']);
      // three attempts, then failed for good, with the reason
      expect(await queue.state(jobs[1]!.job)).toMatchObject({ state: 'failed', attempts: 3, failedReason: 'q--b failed on purpose' });
      // submitted again: the finished run (its results written) is left alone, the failed one retried (and now succeeds)
      jobs[0]!.done = true;
      expect(await queue.submit('/nowhere', jobs)).toEqual({ added: 0, retried: 1, queued: 0, done: 2 });
      for (let t = 0; t < 300 && (await state(jobs[1]!.job)) !== 'completed'; t++) await new Promise((r) => setTimeout(r, 100));
      expect(await state(jobs[1]!.job)).toBe('completed');
    } finally {
      await queue.close();
      await worker.close();
    }
  });

  it('a split run whose shards are still running counts as queued when the sweep is submitted again', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const seen: string[] = [];
    const handler: JobHandler = async (_root, job) => {
      seen.push(jobId(job));
      if (job.kind === 'shard') await gate;
    };
    const worker = startWorker(url, handler, { concurrency: 2 });
    const queue = new SweepQueue(url);
    try {
      const jobs = [{ job: { kind: 'run', sweep: 'p', run: 'a', shards: 2 } as SweepJob, done: false }];
      await queue.submit('/nowhere', jobs);
      for (let t = 0; t < 300 && seen.filter((id) => id.includes('shard')).length < 2; t++) await new Promise((r) => setTimeout(r, 50));
      expect(await queue.state(jobs[0]!.job)).toMatchObject({ state: 'completed' });
      expect(await queue.submit('/nowhere', jobs)).toEqual({ added: 0, retried: 0, queued: 1, done: 0 });
      open();
      const finish: SweepJob = { kind: 'finish', sweep: 'p', run: 'a' };
      for (let t = 0; t < 300 && (await queue.state(finish)).state !== 'completed'; t++) await new Promise((r) => setTimeout(r, 50));
      expect(seen.filter((id) => id === 'p--a')).toHaveLength(1);
      expect(seen.at(-1)).toBe('p--a--finish');
    } finally {
      await queue.close();
      await worker.close();
    }
  });
});
