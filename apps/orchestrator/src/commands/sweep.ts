import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { initializeBackend, makeDirectory, writeFileAtomic, type ResultMetric } from '@lic-backdoor/core';
import { isRecord, readConfigFile, validateConfig } from '@lic-backdoor/attack';
import { exists, runEnvironment } from '@lic-backdoor/training';
import { aggregateRuns, cellLabel, expandGrid, runLocally, startWorker, sweepConfig, SweepQueue, type GridRun, type SweepConfig, type JobHandler, type SweepJob } from '@lic-backdoor/sweep';
import { readRunConfig } from './run.js';
import { renderVegaLite, writeFigure } from '../report/figures.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

/** `<root>/sweep.json`: what every worker needs to run the sweep's jobs from the shared folder. */
interface SweepManifest {
  name: string;
  configFile: string;
  /** the run config's folder: its relative paths are relative to it (on every machine: same path) */
  configDir: string;
  shards: number;
  reports: boolean;
  runs: { id: string; params: Record<string, unknown>; seed: number }[];
}

const runFolder = (root: string, id: string) => join(root, 'runs', id);
const resultsOf = (root: string, id: string) => join(runFolder(root, id), 'run', 'results.json');

/**
 * Runs one job as a child process of the CLI (`run`, `evaluate-attack --shard`), appending its
 * stderr to the run's `job.log` and reporting its stage. The child exits when this process dies
 * (LIC_BACKDOOR_EXIT_WITH_PARENT: it watches its stdin), so a killed worker leaves nothing running.
 */
export const runJob: JobHandler = async (root, job, progress, signal) => {
  const manifest = JSON.parse(await readFile(join(root, 'sweep.json'), 'utf8')) as SweepManifest;
  const folder = runFolder(root, job.run);
  const out = join(folder, 'run');
  const config = join(folder, 'config.yaml');
  let args: string[];
  if (job.kind === 'shard') {
    const resolved = parse(await readFile(join(out, 'config.resolved.yaml'), 'utf8')) as { evaluate: { data: string; limit?: number; faces?: string; tasks?: string[] } };
    const e = resolved.evaluate;
    args = ['evaluate-attack', '--attack', join(out, 'attack'), '--data', e.data, '--out', join(out, 'eval'), '--shard', `${job.shard}/${job.shards}`, '--resume'];
    if (e.limit) args.push('--limit', String(e.limit));
    if (e.faces) args.push('--faces', e.faces);
    if (e.tasks) args.push('--tasks', e.tasks.length ? e.tasks.join(',') : 'none');
  } else {
    args = ['run', config, '--out', out, '--resume', '--config-dir', manifest.configDir];
    if (job.kind === 'run' && job.shards > 1) args.push('--until', 'attack');
    if (!manifest.reports) args.push('--no-report');
  }
  const log = join(folder, 'job.log');
  await appendFile(log, `\n# ${new Date().toISOString()} ${job.kind}${job.kind === 'shard' ? ` ${job.shard}/${job.shards}` : ''}: lic-backdoor ${args.join(' ')}\n`);
  progress({ stage: job.kind === 'shard' ? `evaluate ${job.shard}/${job.shards}` : 'start' });
  await new Promise<void>((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, LIC_BACKDOOR_EXIT_WITH_PARENT: '1' } });
    let tail = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-2000);
      void appendFile(log, text);
      for (const m of text.matchAll(/^stage ([\w-]+(?::[\w-]+)*)(: skipped)?/gm)) if (!m[2]) progress({ stage: m[1]! });
    });
    const stop = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', stop, { once: true });
    child.on('error', fail);
    child.on('exit', (code, sig) => {
      signal?.removeEventListener('abort', stop);
      if (code === 0) done();
      else fail(new Error(`lic-backdoor ${args[0]} exited ${code ?? sig}: ${tail.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
};

/** The sweep's jobs: one per run whose results are missing. */
async function pendingJobs(root: string, manifest: SweepManifest): Promise<{ job: SweepJob; done: boolean }[]> {
  return Promise.all(manifest.runs.map(async (r) => ({ job: { kind: 'run' as const, sweep: manifest.name, run: r.id, shards: manifest.shards }, done: await exists(resultsOf(root, r.id)) })));
}

/** A sweep config read: the config, its runs, and the folder the run config's relative paths are relative to. */
async function readSweep(file: string): Promise<{ configFile: string; sweep: SweepConfig; runs: GridRun[]; configDir: string }> {
  const configFile = resolve(file);
  const sweep = validateConfig(sweepConfig, await readConfigFile(configFile), configFile);
  const runFile = resolve(dirname(configFile), sweep.run);
  const base = await readConfigFile(runFile);
  if (!isRecord(base)) throw new Error(`${configFile}: run ${runFile} is not a run config`);
  let runs: GridRun[];
  try {
    runs = expandGrid(sweep, base);
  } catch (error) {
    throw new Error(`${configFile}: ${(error as Error).message}`, { cause: error });
  }
  return { configFile, sweep, runs, configDir: dirname(runFile) };
}

/** Writes a run's config to `file` (unless it holds it already) and validates it as `run` would. */
async function writeRunConfig(file: string, run: GridRun, sweep: SweepConfig, configDir: string): Promise<void> {
  await makeDirectory(dirname(file));
  const text = stringify(run.config);
  if (!(await exists(file)) || (await readFile(file, 'utf8')) !== text) await writeFileAtomic(file, text);
  try {
    await readRunConfig(file, configDir);
  } catch (error) {
    throw new Error(`sweep ${sweep.name}, run ${run.id} (${cellLabel(run.params)}, seed ${run.seed}): ${(error as Error).message}`, { cause: error });
  }
}

/** `check-config` of a sweep config: every run's config validated (in a temporary folder); how many runs and grid points. */
export async function checkSweepConfig(file: string): Promise<{ runs: number; points: number }> {
  const { sweep, runs, configDir } = await readSweep(file);
  const tmp = await mkdtemp(join(tmpdir(), 'sweep-check-'));
  try {
    for (const r of runs) await writeRunConfig(join(tmp, `${r.id}.yaml`), r, sweep, configDir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { runs: runs.length, points: runs.length / sweep.seeds.length };
}

/**
 * Reads and checks the sweep config (every run's config validated as `run` would), writes the
 * sweep folder (`sweep.json`, each run's `config.yaml`) and returns it.
 */
async function prepare(file: string, out?: string): Promise<{ root: string; manifest: SweepManifest; runs: GridRun[]; config: Record<string, unknown> }> {
  const { configFile, sweep, runs, configDir } = await readSweep(file);
  const root = resolve(out ?? join('runs', `sweep-${sweep.name}`));
  const manifest: SweepManifest = { name: sweep.name, configFile, configDir, shards: sweep.shards, reports: sweep.reports, runs: runs.map(({ id, params, seed }) => ({ id, params, seed })) };
  await makeDirectory(root);
  for (const r of runs) await writeRunConfig(join(runFolder(root, r.id), 'config.yaml'), r, sweep, configDir);
  await writeFileAtomic(join(root, 'sweep.json'), JSON.stringify(manifest, null, 2));
  return { root, manifest, runs, config: sweep as unknown as Record<string, unknown> };
}

/** The runs' states as a table: local state from the folder, queue state when a queue is given. */
async function statusTable(root: string, manifest: SweepManifest, queue?: SweepQueue): Promise<string> {
  const lines = ['| run | grid point | seed | state |', '| --- | --- | --- | --- |'];
  for (const r of manifest.runs) {
    let state = (await exists(resultsOf(root, r.id))) ? 'done' : 'not done';
    if (state !== 'done' && queue) {
      const job: SweepJob = { kind: 'run', sweep: manifest.name, run: r.id, shards: manifest.shards };
      const s = await queue.state(job);
      state = `${s.state}${s.progress ? ` (${s.progress.stage})` : ''}${s.failedReason ? `: ${s.failedReason}` : ''}`;
      if (s.state === 'completed' && manifest.shards > 1) {
        const parts = [];
        for (let k = 1; k <= manifest.shards; k++) parts.push(`shard ${k}: ${(await queue.state({ kind: 'shard', sweep: manifest.name, run: r.id, shard: k, shards: manifest.shards })).state}`);
        parts.push(`finish: ${(await queue.state({ kind: 'finish', sweep: manifest.name, run: r.id })).state}`);
        state = `attack done; ${parts.join(', ')}`;
      }
    }
    lines.push(`| ${r.id} | ${cellLabel(r.params)} | ${r.seed} | ${state} |`);
  }
  return lines.join('\n');
}

/** Waits until every run has results, or a job failed for good (then throws naming it). */
async function waitForQueue(root: string, manifest: SweepManifest, queue: SweepQueue, poll = 2000): Promise<void> {
  let last = '';
  for (;;) {
    let done = 0;
    const failed: string[] = [];
    for (const r of manifest.runs) {
      if (await exists(resultsOf(root, r.id))) {
        done++;
        continue;
      }
      const jobs: SweepJob[] = [{ kind: 'run', sweep: manifest.name, run: r.id, shards: manifest.shards }];
      if (manifest.shards > 1) jobs.push({ kind: 'finish', sweep: manifest.name, run: r.id });
      for (const j of jobs) {
        const s = await queue.state(j);
        if (s.state === 'failed') failed.push(`${r.id} (${j.kind}): ${s.failedReason ?? 'failed'}`);
      }
    }
    const line = `sweep ${manifest.name}: ${done}/${manifest.runs.length} runs done`;
    if (line !== last) console.error((last = line));
    if (failed.length) throw new Error(`${failed.length} job(s) failed for good (after their retries):\n${failed.join('\n')}\nfix the cause and run the sweep again: it retries them`);
    if (done === manifest.runs.length) return;
    await new Promise((r) => setTimeout(r, poll));
  }
}

/** The sweep's results.json, summary.md and report.html from its runs' results. */
async function aggregate(root: string, manifest: SweepManifest, runs: GridRun[], config: Record<string, unknown>, started: number): Promise<void> {
  const inputs = await Promise.all(runs.map(async (run) => ({ run, metrics: (JSON.parse(await readFile(resultsOf(root, run.id), 'utf8')) as { metrics: Record<string, ResultMetric> }).metrics })));
  const { records, cells, metrics } = aggregateRuns(inputs);
  const backend = await initializeBackend({});
  const results = {
    command: 'sweep',
    name: manifest.name,
    description: `sweep ${manifest.name}: ${runs.length} runs (${cells.length} grid points x seeds) of ${manifest.configFile}; each run's figures are its results.json metrics (runs/<id>/run/results.json)`,
    metrics,
    per_image: [],
    wall_time_s: Math.round((performance.now() - started) / 100) / 10,
    config,
    environment: runEnvironment(backend),
    runs: records,
    cells,
  };
  await writeFileAtomic(join(root, 'results.json'), JSON.stringify(results, null, 2));
  const names = [...new Set(cells.flatMap((c) => Object.keys(c.mean)))].sort();
  const table = [
    `# sweep ${manifest.name}`,
    '',
    `mean ± standard deviation over the seeds of each grid point; ${runs.length} runs`,
    '',
    `| grid point | ${names.join(' | ')} |`,
    `| --- | ${names.map(() => '---').join(' | ')} |`,
    ...cells.map((c) => `| ${cellLabel(c.params)} | ${names.map((n) => (c.mean[n] === undefined ? '' : `${c.mean[n]!.toFixed(3)} ± ${c.std[n]!.toFixed(3)}`)).join(' | ')} |`),
    '',
  ].join('\n');
  await writeFileAtomic(join(root, 'summary.md'), table);
  await writeReport(root, manifest, cells, names, metrics);
}

async function writeReport(root: string, manifest: SweepManifest, cells: ReturnType<typeof aggregateRuns>['cells'], names: string[], metrics: Record<string, ResultMetric>): Promise<void> {
  const keys = Object.keys(cells[0]?.params ?? {});
  const [x, ...rest] = keys;
  const sections: string[] = [];
  for (const name of names) {
    const values = cells.map((c) => ({ x: x === undefined ? 'all' : String(c.params[x]), series: rest.length ? cellLabel(Object.fromEntries(rest.map((k) => [k, c.params[k]]))) : 'mean', mean: c.mean[name] ?? null, low: (c.mean[name] ?? 0) - (c.std[name] ?? 0), high: (c.mean[name] ?? 0) + (c.std[name] ?? 0) }));
    const figure = await renderVegaLite({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: name,
      width: 360,
      height: 200,
      data: { values },
      layer: [
        { mark: { type: 'line', point: true }, encoding: { x: { field: 'x', type: 'ordinal', title: x ?? '' }, y: { field: 'mean', type: 'quantitative', scale: { zero: false }, title: name }, color: { field: 'series', type: 'nominal' } } },
        { mark: 'errorbar', encoding: { x: { field: 'x', type: 'ordinal' }, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color: { field: 'series', type: 'nominal' } } },
      ],
    });
    const base = join(root, 'figures', name.replace(/[^a-z0-9_.-]+/gi, '_'));
    await writeFigure(base, figure);
    const definition = Object.entries(metrics).find(([k]) => k.endsWith(` / ${name}`))?.[1].definition.replace(/ Mean over seeds .*$/, '') ?? '';
    sections.push(`<figure><img src="figures/${base.split('/').at(-1)}.svg" alt="${name}"><figcaption><b>${name}</b>: ${escapeHtml(definition)} Mean over seeds, bars: ± one standard deviation.</figcaption></figure>`);
  }
  const summary = await readFile(join(root, 'summary.md'), 'utf8');
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>lic-backdoor sweep ${manifest.name}</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}figure{display:inline-block;margin:1em}figcaption{max-width:420px;font-size:12px}pre{font-size:12px;overflow:auto}</style></head><body><h1>sweep ${manifest.name}</h1><p>${manifest.runs.length} runs of <code>${escapeHtml(manifest.configFile)}</code>; x axis: ${x ?? '(no grid)'}; one line per ${rest.join(', ') || 'grid'}.</p>${sections.join('\n')}<h2>Table</h2><pre>${escapeHtml(summary)}</pre></body></html>`;
  await writeFile(join(root, 'report.html'), html);
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * `lic-backdoor sweep CONFIG.yaml`: expands the grid into runs, runs what is missing (locally in
 * `slots` processes, or as jobs on a BullMQ queue with `--queue`), waits, and aggregates.
 */
export async function sweep(file: string, o: { out?: string; queue?: string; status?: boolean; slots?: number; wait?: boolean }): Promise<void> {
  const started = performance.now();
  const { root, manifest, runs, config } = await prepare(file, o.out);
  const queue = o.queue ? new SweepQueue(o.queue) : undefined;
  try {
    if (o.status) {
      console.log(await statusTable(root, manifest, queue));
      return;
    }
    const jobs = await pendingJobs(root, manifest);
    const missing = jobs.filter((j) => !j.done).map((j) => j.job);
    console.error(`sweep ${manifest.name}: ${runs.length} runs in ${root}, ${missing.length} to do`);
    if (queue) {
      const counts = await queue.submit(root, jobs);
      console.error(`sweep ${manifest.name}: queued ${counts.added}, retried ${counts.retried}, already queued ${counts.queued}, done ${counts.done} (${o.queue})`);
      if (o.wait === false) return;
      await waitForQueue(root, manifest, queue);
    } else {
      const slots = o.slots ?? (config.slots as number);
      await runLocally(root, missing, slots, runJob, {
        started: (j) => console.error(`start ${j.run} ${j.kind}${j.kind === 'shard' ? ` ${j.shard}/${j.shards}` : ''}`),
        done: (j) => console.error(`done  ${j.run} ${j.kind}${j.kind === 'shard' ? ` ${j.shard}/${j.shards}` : ''}`),
      });
    }
    await aggregate(root, manifest, runs, config, started);
    process.stdout.write(await readFile(join(root, 'summary.md'), 'utf8'));
    console.log(`report: ${join(root, 'report.html')}`);
  } finally {
    await queue?.close();
  }
}

/** `lic-backdoor worker --queue URL`: takes sweep jobs until stopped (SIGINT/SIGTERM). */
export async function worker(o: { queue: string; concurrency?: number; lockMs?: number }): Promise<void> {
  const lockDuration = o.lockMs ?? 30_000;
  const w = startWorker(o.queue, runJob, { concurrency: o.concurrency ?? 1, lockDuration, stalledInterval: Math.max(1000, Math.round(lockDuration / 2)), log: (line) => console.error(`worker ${process.pid}: ${line}`) });
  console.error(`worker ${process.pid}: waiting for jobs on ${o.queue} (concurrency ${o.concurrency ?? 1})`);
  await new Promise<void>((resolve) => {
    const stop = () => void w.close().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
