import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { LicBackdoorError, PluginRegistry, createRng, initializeBackend, readImage, type CodecV1, type Rng } from '@lic-backdoor/core';
import { register } from '@lic-backdoor/codecs';
import { readBitstream, writeBitstream } from '@lic-backdoor/entropy';

/**
 * `pnpm bench fuzz`: mutated bitstreams of bmshj2018-factorized and mbt2018-mean (small images)
 * decoded in a worker thread with a per-case timeout. Each case ends as a clean error (a typed
 * error with its code), a silent decode (an image came out: expected where the mutation kept a
 * valid container, the CRC recomputed), a crash (any other error) or a hang (past the timeout; the
 * worker is replaced). Decoders run with `maxMegapixels` 0.05 (the seeds are 64 x 64 and
 * 70 x 100): the cap a service decoding small images would set, so that a claimed size costs at most
 * a 0.05-megapixel decode.
 */
const MAX_MEGAPIXELS = 0.05;
export interface FuzzOptions {
  cases: number;
  seed: number;
  timeoutMs: number;
  /** a folder where each stream that hung (hang-<case>-<codec>.lic) or was slow (slow-<case>-<codec>.lic) is written */
  keepHangs?: string;
}

const ROOT = new URL('../../../', import.meta.url);
const CODECS = {
  factorized: { id: 'bmshj2018-factorized', weights: fileURLToPath(new URL('models/training/factorized-n64-l0013/model.safetensors', ROOT)) },
  mbt: { id: 'mbt2018-mean', weights: fileURLToPath(new URL('models/training/mbt-n128-l0013/model.safetensors', ROOT)) },
} as const;
type CodecName = keyof typeof CODECS;

async function codecs(): Promise<Record<CodecName, CodecV1>> {
  await initializeBackend({ prefer: 'wasm' });
  const registry = new PluginRegistry();
  register(registry);
  const make = (name: CodecName) => registry.create('codec', [CODECS[name].id, { weights: CODECS[name].weights, maxMegapixels: MAX_MEGAPIXELS }]) as Promise<CodecV1>;
  return { factorized: await make('factorized'), mbt: await make('mbt') };
}

type Outcome = { kind: 'silent' } | { kind: 'clean'; code: string } | { kind: 'crash'; message: string };

// the worker: decodes what it is sent
if (!isMainThread && (workerData as { fuzz?: boolean } | undefined)?.fuzz) {
  const all = await codecs();
  parentPort!.on('message', async ({ codec, bytes }: { codec: CodecName; bytes: Uint8Array }) => {
    let outcome: Outcome;
    try {
      tf.dispose(await all[codec].decompress(bytes));
      outcome = { kind: 'silent' };
    } catch (error) {
      outcome = LicBackdoorError.isInstance(error) ? { kind: 'clean', code: error.code } : { kind: 'crash', message: String((error as Error)?.message ?? error).slice(0, 200) };
    }
    parentPort!.postMessage(outcome);
  });
  parentPort!.postMessage({ ready: true });
}

/** One mutation of a valid stream; `kind` names it in the table. */
function mutate(good: Uint8Array, rng: Rng): { kind: string; bytes: Uint8Array } {
  const b = readBitstream(good);
  const pick = rng.int(6);
  const flip = (bytes: Uint8Array, n: number) => {
    const out = bytes.slice();
    for (let k = 0; k < n && out.length; k++) out[rng.int(out.length)]! ^= 1 + rng.int(255);
    return out;
  };
  switch (pick) {
    case 0:
      return { kind: 'byte flips (CRC as written)', bytes: flip(good, 1 + rng.int(4)) };
    case 1:
      return { kind: 'truncation', bytes: good.slice(0, rng.int(good.length)) };
    case 2: {
      const s = rng.int(b.streams.length);
      const streams = b.streams.map((x, i) => (i === s ? flip(x, 1 + rng.int(8)) : x));
      return { kind: 'stream bytes, CRC recomputed', bytes: writeBitstream({ ...b, streams }) };
    }
    case 3: {
      const s = rng.int(b.streams.length);
      const streams = b.streams.map((x, i) => (i === s ? x.slice(0, rng.int(x.length + 1)) : x));
      return { kind: 'stream cut, CRC recomputed', bytes: writeBitstream({ ...b, streams }) };
    }
    case 4: {
      const near = rng.int(2) === 0;
      const size = () => (near ? 1 + rng.int(256) : 1 + rng.int(65535));
      return { kind: 'header size, CRC recomputed', bytes: writeBitstream({ ...b, height: size(), width: size() }) };
    }
    default: {
      const streams = rng.int(2) === 0 ? [...b.streams].reverse() : b.streams.slice(0, Math.max(0, b.streams.length - 1));
      const weightsHash = rng.int(3) === 0 ? flip(b.weightsHash, 1) : b.weightsHash;
      return { kind: 'streams or hash, CRC recomputed', bytes: writeBitstream({ ...b, streams, weightsHash }) };
    }
  }
}

export interface FuzzResult {
  cases: number;
  clean: Record<string, number>;
  silent: number;
  crashes: number;
  hangs: number;
  byMutation: Record<string, { cases: number; clean: number; silent: number; crashes: number; hangs: number }>;
  crashSamples: string[];
  /** the slowest case that finished within the timeout, in ms */
  slowestMs: number;
  /** cases past the timeout that finished when replayed: case number, mutation, codec, ms (the first try's timeout and the replay in a fresh worker, its start included) */
  slow: { case: number; mutation: string; codec: string; ms: number }[];
  peakRssMiB: number;
  wallSeconds: number;
}

export async function fuzz(o: FuzzOptions, log: (line: string) => void): Promise<FuzzResult> {
  const started = performance.now();
  const all = await codecs();
  const crop = async (h: number, w: number) => tf.slice(await readImage(fileURLToPath(new URL('../shared/data/kodak/kodim23.png', ROOT))), [0, 40, 100, 0], [1, h, w, 3]);
  const seeds: { codec: CodecName; bytes: Uint8Array }[] = [];
  for (const codec of ['factorized', 'mbt'] as const) for (const [h, w] of [[64, 64], [70, 100]] as const) seeds.push({ codec, bytes: (await all[codec].compress(await crop(h, w))).bytes });
  const start = () =>
    new Promise<Worker>((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: { fuzz: true } });
      w.once('message', () => resolve(w));
      w.once('error', reject);
    });
  let worker = await start();
  const result: FuzzResult = { cases: 0, clean: {}, silent: 0, crashes: 0, hangs: 0, byMutation: {}, crashSamples: [], slowestMs: 0, slow: [], peakRssMiB: 0, wallSeconds: 0 };
  const rng = createRng(o.seed);
  for (let k = 0; k < o.cases; k++) {
    const seed = seeds[rng.int(seeds.length)]!;
    const { kind, bytes } = mutate(seed.bytes, rng);
    const row = (result.byMutation[kind] ??= { cases: 0, clean: 0, silent: 0, crashes: 0, hangs: 0 });
    row.cases++;
    result.cases++;
    const t0 = performance.now();
    const decode = (timeout: number) =>
      new Promise<Outcome | 'timeout'>((resolve) => {
        const timer = setTimeout(() => resolve('timeout'), timeout);
        worker.once('message', (m: Outcome) => {
          clearTimeout(timer);
          resolve(m);
        });
        worker.postMessage({ codec: seed.codec, bytes });
      });
    let outcome = await decode(o.timeoutMs);
    if (outcome === 'timeout') {
      // past the timeout: replayed once in a fresh worker with ten times the time, a slow case
      // (e.g. a machine under load) finishes, a hang does not
      await worker.terminate();
      worker = await start();
      const replay = await decode(10 * o.timeoutMs);
      if (replay === 'timeout') {
        if (o.keepHangs) writeFileSync(join(o.keepHangs, `hang-${k}-${seed.codec}.lic`), bytes);
        result.hangs++;
        row.hangs++;
        await worker.terminate();
        worker = await start();
        continue;
      }
      result.slow.push({ case: k, mutation: kind, codec: seed.codec, ms: Math.round(performance.now() - t0) });
      if (o.keepHangs) writeFileSync(join(o.keepHangs, `slow-${k}-${seed.codec}.lic`), bytes);
      outcome = replay;
    } else {
      result.slowestMs = Math.max(result.slowestMs, Math.round(performance.now() - t0));
    }
    if (outcome.kind === 'clean') {
      result.clean[outcome.code] = (result.clean[outcome.code] ?? 0) + 1;
      row.clean++;
    } else if (outcome.kind === 'silent') {
      result.silent++;
      row.silent++;
    } else {
      result.crashes++;
      row.crashes++;
      if (result.crashSamples.length < 5) result.crashSamples.push(`${kind}: ${outcome.message}`);
    }
    if ((k + 1) % 500 === 0) log(`fuzz: ${k + 1}/${o.cases} cases, ${result.crashes} crashes, ${result.hangs} hangs, ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB peak`);
  }
  await worker.terminate();
  result.peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  result.wallSeconds = Math.round((performance.now() - started) / 1000);
  log('| mutation | cases | clean errors | silent decodes | crashes | hangs |');
  log('| --- | --- | --- | --- | --- | --- |');
  for (const [kind, r] of Object.entries(result.byMutation)) log(`| ${kind} | ${r.cases} | ${r.clean} | ${r.silent} | ${r.crashes} | ${r.hangs} |`);
  log(`| all | ${result.cases} | ${Object.values(result.clean).reduce((a, b) => a + b, 0)} (${Object.entries(result.clean).map(([c, n]) => `${c} ${n}`).join(', ')}) | ${result.silent} | ${result.crashes} | ${result.hangs} |`);
  log(`slowest case within the timeout ${result.slowestMs} ms; ${result.slow.length} past it that finished when replayed (${result.slow.map((x) => `case ${x.case} ${x.codec} ${x.mutation}: ${x.ms} ms`).join('; ')}); peak RSS ${result.peakRssMiB} MiB, ${result.wallSeconds} s`);
  return result;
}
