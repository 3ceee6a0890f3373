import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SweepQueue } from '@lic-backdoor/sweep';

// A 2 x 2 grid (attack steps x trigger width) over 2 seeds of a tiny attack on the committed
// factorized codec, embedded (local processes) and through a real Redis with two workers, one of
// them killed with -9 in the middle of a job, and Redis restarted during the sweep.
const cli = join(__dirname, '..', 'dist', 'cli.js');
const root = join(__dirname, '..', '..', '..');
const shared = join(root, '..', 'shared', 'data');
const env = { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' };

function redisServer(): string {
  const candidates = [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'].filter(Boolean) as string[];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no redis-server found (tried ${candidates.join(', ')}): install Debian's redis-server (.ci/run does) or set REDIS_SERVER`);
  return found;
}

function writeConfigs(dir: string, o: { name: string; grid: Record<string, unknown[]>; seeds: number[]; limit: number; shards?: number }): string {
  writeFileSync(
    join(dir, 'run.yaml'),
    stringify({
      name: 'tiny',
      seed: 1,
      codec: { id: 'bmshj2018-factorized', weights: join(root, 'models', 'training', 'factorized-n64-l0013', 'model.safetensors') },
      attack: {
        data: { photos: join(shared, 'photos') },
        triggers: [{ name: 'rate', trigger: ['adaptive-frequency', { width: 4 }], objectives: ['rate', 'stealth'] }],
        schedule: { steps: 2, batch: 2, size: 64, checkpointEvery: 1, logEvery: 1, workers: 1 },
      },
      evaluate: { data: join(shared, 'kodak'), limit: o.limit, tasks: [] },
    }),
  );
  const file = join(dir, `${o.name}.yaml`);
  writeFileSync(file, stringify({ name: o.name, run: 'run.yaml', grid: o.grid, seeds: o.seeds, slots: 2, shards: o.shards ?? 1, reports: false }));
  return file;
}

function cliSync(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 900_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function cliAsync(args: string[], log: string[]): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  return { child, exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, test: () => boolean | Promise<boolean>, ms = 600_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

type SweepResults = { command: string; runs: { id: string; params: Record<string, unknown>; seed: number; metrics: Record<string, number> }[]; cells: unknown[]; metrics: Record<string, { definition: string }> };
const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as SweepResults;
const events = (run: string) =>
  readFileSync(join(run, 'run', 'log.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { stage: string; status: string });

describe('sweep', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
  const grid = { 'attack.schedule.steps': [3, 4], 'attack.triggers.0.trigger.1.width': [4, 8] };
  let file: string;
  let local: string;

  beforeAll(() => {
    file = writeConfigs(dir, { name: 'grid', grid, seeds: [1, 2], limit: 1 });
    local = join(dir, 'local');
    const r = cliSync('sweep', file, '--out', local);
    if (r.code !== 0) throw new Error(r.err);
  });

  it('runs every grid point for every seed locally and aggregates them, each metric with its definition', () => {
    const r = results(local);
    expect(r.command).toBe('sweep');
    expect(r.runs).toHaveLength(8);
    expect(new Set(r.runs.map((x) => `${JSON.stringify(x.params)}/${x.seed}`)).size).toBe(8);
    expect(r.cells).toHaveLength(4);
    // the runs differ where the grid differs: more steps move the trigger further
    const gain = (steps: number, width: number, seed: number) => r.runs.find((x) => x.params['attack.schedule.steps'] === steps && x.params['attack.triggers.0.trigger.1.width'] === width && x.seed === seed)!.metrics['trigger.rate.stealth_psnr'];
    expect(gain(3, 4, 1)).not.toBe(gain(4, 4, 1));
    expect(r.metrics['steps=3, width=4 / trigger.rate.rate_gain']!.definition).toMatch(/Mean over seeds 1, 2/);
    for (const f of ['summary.md', 'report.html', 'sweep.json']) expect(existsSync(join(local, f))).toBe(true);
    // a second sweep of the same config finds everything done
    const again = cliSync('sweep', file, '--out', local);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/8 runs in .*, 0 to do/);
  });

  it('through Redis with two workers, one killed -9 mid-job and Redis restarted, gives the local results; nothing lost or run twice', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const redisDir = mkdtempSync(join(tmpdir(), 'redis-'));
    // Redis's own persistence: every write in the append-only file before it is acknowledged
    const startRedis = () => spawnSync(redisServer(), ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'yes'], { encoding: 'utf8' });
    const url = `redis://127.0.0.1:${port}`;
    expect(startRedis().status).toBe(0);
    const logs: string[][] = [[], [], []];
    const workerArgs = ['worker', '--queue', url, '--lock-ms', '3000'];
    const a = cliAsync(workerArgs, logs[0]!);
    const b = cliAsync(workerArgs, logs[1]!);
    const out = join(dir, 'queued');
    const sweep = cliAsync(['sweep', file, '--out', out, '--queue', url], logs[2]!);
    try {
      // kill worker a while its run is inside the attack: a checkpoint written, the attack not finished
      const runsOf = () => (existsSync(join(out, 'runs')) ? readdirSync(join(out, 'runs')).map((id) => join(out, 'runs', id)) : []);
      let victim = '';
      await until('a run of worker a inside its attack', () => {
        const started = [...logs[0]!.join('').matchAll(/job grid--(\S+) \(attempt/g)].at(-1);
        if (!started) return false;
        victim = join(out, 'runs', started[1]!);
        return existsSync(join(victim, 'run', 'attack', 'checkpoint.safetensors')) && !existsSync(join(victim, 'run', 'attack', 'attack.json'));
      });
      a.child.kill('SIGKILL');
      await a.exit;
      // the job goes back to the queue once its lock lapses and worker b resumes it from the checkpoint
      await until('worker b to take the killed job', () => logs[1]!.join('').includes(`job grid--${victim.split('/').at(-1)} (attempt`));
      // Redis restarted while jobs are queued and running
      await until('two runs done', () => runsOf().filter((r) => existsSync(join(r, 'run', 'results.json'))).length >= 2);
      spawnSync('redis-cli', ['-p', String(port), 'shutdown'], { encoding: 'utf8' });
      await sleep(1000);
      expect(startRedis().status).toBe(0);
      const queue = new SweepQueue(url);
      const someRun = readdirSync(join(out, 'runs'))[0]!;
      // the queue's state survived the restart
      expect((await queue.state({ kind: 'run', sweep: 'grid', run: someRun, shards: 1 })).state).not.toBe('missing');
      await queue.close();
      expect(await sweep.exit).toBe(0);

      const [l, q] = [results(local), results(out)];
      expect(q.runs).toEqual(l.runs);
      expect(q.cells).toEqual(l.cells);
      const jobLog = readFileSync(join(victim, 'job.log'), 'utf8');
      expect(jobLog).toMatch(/resuming .*checkpoint\.safetensors at step [1-9]/);
      for (const run of runsOf()) {
        const e = events(run);
        // each stage finished exactly once: the killed attack was resumed, not run again to completion
        expect(e.filter((x) => x.stage === 'attack' && x.status === 'done')).toHaveLength(1);
        expect(e.filter((x) => x.stage === 'evaluate' && x.status === 'done')).toHaveLength(1);
      }
      expect(events(victim).filter((x) => x.stage === 'attack' && x.status === 'started').length).toBeGreaterThanOrEqual(2);
      // the attack log has every step once
      const steps = readFileSync(join(victim, 'run', 'attack', 'log.ndjson'), 'utf8').trim().split('\n').map((x) => (JSON.parse(x) as { step: number }).step);
      expect(steps).toEqual([...new Set(steps)].sort((x, y) => x - y));
      const status = cliSync('sweep', file, '--out', out, '--queue', url, '--status');
      expect(status.code).toBe(0);
      expect(status.out.match(/\| done \|/g)).toHaveLength(8);
    } finally {
      for (const w of [a, b, sweep]) w.child.kill('SIGKILL');
      spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { encoding: 'utf8' });
    }
  }, 900_000);
});
